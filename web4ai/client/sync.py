"""The blocking client: the asyncio client driven by a private event loop."""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any

from web4ai.client.admin import SyncAdmin
from web4ai.client.aio import DEFAULT_URL, AsyncClient


class Client(SyncAdmin):
    _client: AsyncClient

    def __init__(
        self, base_url: str = DEFAULT_URL, api_key: str | None = None, timeout: float = 30.0
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._client = AsyncClient(base_url, api_key, timeout)

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._loop.run_until_complete(self._client.close())
        self._loop.close()

    def _run(self, coro: Any) -> Any:
        return self._loop.run_until_complete(coro)

    def request(
        self, method: str, path: str, json: Any = None, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        result: dict[str, Any] = self._run(self._client.request(method, path, json, params))
        return result

    def submit(self, task_type: str, **fields: Any) -> str:
        return str(self._run(self._client.submit(task_type, **fields)))

    def get(self, task_id: str) -> dict[str, Any]:
        return dict(self._run(self._client.get(task_id)))

    def wait(self, task_id: str, timeout: float = 300.0, poll: float = 0.5) -> dict[str, Any]:
        return dict(self._run(self._client.wait(task_id, timeout, poll)))

    def list_tasks(
        self,
        status: str | None = None,
        limit: int = 50,
        offset: int = 0,
        phase: str | None = None,
    ) -> dict[str, Any]:
        return dict(self._run(self._client.list_tasks(status, limit, offset, phase)))

    def cancel(self, task_id: str) -> dict[str, Any]:
        return dict(self._run(self._client.cancel(task_id)))

    def retry(self, task_id: str) -> dict[str, Any]:
        return dict(self._run(self._client.retry(task_id)))

    def drain(self, node_id: str, deadline: float | None = None) -> dict[str, Any]:
        return dict(self._run(self._client.drain(node_id, deadline)))

    def list_nodes(self) -> dict[str, Any]:
        return dict(self._run(self._client.list_nodes()))

    def get_node(self, node_id: str) -> dict[str, Any]:
        return dict(self._run(self._client.get_node(node_id)))

    def set_node_status(self, node_id: str, status: str) -> dict[str, Any]:
        return dict(self._run(self._client.set_node_status(node_id, status)))
