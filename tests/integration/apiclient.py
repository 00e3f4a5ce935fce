"""A tiny HTTP client for contract tests: real requests, JSON in and out."""

from __future__ import annotations

from typing import Any

import aiohttp


class Http:
    def __init__(self, base: str, headers: dict[str, str] | None = None) -> None:
        self.base = base
        self.headers = headers or {}

    async def call(
        self,
        method: str,
        path: str,
        json: Any = None,
        *,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any, Any]:
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                method,
                self.base + path,
                json=json,
                data=data,
                headers={**self.headers, **(headers or {})},
            ) as resp,
        ):
            text = await resp.text()
            try:
                import json as _json

                body = _json.loads(text)
            except ValueError:
                body = text
            return resp.status, body, resp.headers

    async def get(self, path: str, **kw: Any) -> tuple[int, Any]:
        status, body, _ = await self.call("GET", path, **kw)
        return status, body

    async def post(self, path: str, json: Any = None, **kw: Any) -> tuple[int, Any]:
        status, body, _ = await self.call("POST", path, json, **kw)
        return status, body

    async def put(self, path: str, json: Any = None, **kw: Any) -> tuple[int, Any]:
        status, body, _ = await self.call("PUT", path, json, **kw)
        return status, body

    async def delete(self, path: str, **kw: Any) -> tuple[int, Any]:
        status, body, _ = await self.call("DELETE", path, **kw)
        return status, body


def assert_error(status: int, body: Any, expected_status: int, code: str) -> None:
    assert status == expected_status, body
    assert body["success"] is False
    assert isinstance(body["error"], str) and body["error"]
    assert body["timestamp"].endswith("Z")
    assert body["details"]["code"] == code, body


async def submit(http: Http, task_id: str, capability: str, **extra: Any) -> None:
    """Submit a test_task that only a node with ``capability`` can take."""
    status, body = await http.post(
        "/tasks",
        {
            "task_id": task_id,
            "task_type": "test_task",
            "requirements": {"capabilities": [capability]},
            **extra,
        },
    )
    assert status == 200, body


# a registration as the contract's examples send it
REGISTRATION = {
    "host": "192.168.1.100",
    "port": 8090,
    "node_type": "enhanced_node",
    "capabilities": ["ai_inference", "data_processing"],
    "version": "3.4.0",
}
