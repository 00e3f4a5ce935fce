"""The asyncio client."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import aiohttp

from web4ai.client.admin import AsyncAdmin
from web4ai.client.errors import TERMINAL, Web4AIError
from web4ai.core.urls import api_base

DEFAULT_URL = "http://127.0.0.1:9000/api/v1"


class AsyncClient(AsyncAdmin):
    def __init__(
        self, base_url: str = DEFAULT_URL, api_key: str | None = None, timeout: float = 30.0
    ) -> None:
        self.base_url = api_base(base_url)  # the server root or the API base
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(
        self,
        method: str,
        path: str,
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self.timeout, headers=self.headers)
        async with self._session.request(
            method, self.base_url + path, json=json, params=params, headers=headers
        ) as resp:
            try:
                body = await resp.json(content_type=None)
            except ValueError:
                body = await resp.text()
            if resp.status >= 400 or not isinstance(body, dict):
                raise Web4AIError.from_response(resp.status, body)
            return body

    # -- tasks ---------------------------------------------------------------

    async def submit(self, task_type: str, **fields: Any) -> str:
        body = await self.request("POST", "/tasks", {"task_type": task_type, **fields})
        return str(body["task_id"])

    async def get(self, task_id: str) -> dict[str, Any]:
        return dict((await self.request("GET", f"/tasks/{task_id}"))["task"])

    async def wait(
        self,
        task_id: str,
        timeout: float = 300.0,  # noqa: ASYNC109 - a per-call timeout is the documented API
        poll: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> dict[str, Any]:
        """The task once completed or failed; TimeoutError after ``timeout`` seconds."""
        deadline = clock() + timeout
        while True:
            task = await self.get(task_id)
            if task["status"] in TERMINAL:
                return task
            if clock() >= deadline:
                raise TimeoutError(f"task {task_id} still {task['status']} after {timeout}s")
            await asyncio.sleep(poll)

    async def list_tasks(
        self,
        status: str | None = None,
        limit: int = 50,
        offset: int = 0,
        phase: str | None = None,
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if status:
            params["status"] = status
        if phase:
            params["phase"] = phase
        return await self.request("GET", "/tasks", params=params)

    async def cancel(self, task_id: str) -> dict[str, Any]:
        """End the task: failed, phase cancelled; its node stops the executor."""
        return dict((await self.request("POST", f"/tasks/{task_id}/cancel"))["task"])

    async def retry(self, task_id: str) -> dict[str, Any]:
        """Queue a failed task again, with its retries reset."""
        return dict((await self.request("POST", f"/tasks/{task_id}/retry"))["task"])

    # -- nodes ---------------------------------------------------------------

    async def list_nodes(self) -> dict[str, Any]:
        return dict((await self.request("GET", "/nodes"))["nodes"])

    async def get_node(self, node_id: str) -> dict[str, Any]:
        return dict((await self.request("GET", f"/nodes/{node_id}"))["node"])

    async def set_node_status(self, node_id: str, status: str) -> dict[str, Any]:
        return await self.request("PUT", f"/nodes/{node_id}/status", {"status": status})

    async def drain(self, node_id: str, deadline: float | None = None) -> dict[str, Any]:
        """No new tasks; running ones finish (requeued after ``deadline`` seconds); then
        the node goes to maintenance."""
        body = {} if deadline is None else {"deadline": deadline}
        return await self.request("POST", f"/nodes/{node_id}/drain", body)
