"""The API app with an in-memory fake at the Kubernetes boundary (the Writer and the key
Secret) instead of an API server, for the middle tier's tests (the fixtures ``ctx`` and
``http`` are in tests/unit/conftest.py)."""

from __future__ import annotations

import copy
import time
from typing import Any, cast

from aiohttp import web
from aiohttp.test_utils import TestClient

from web4ai.api.auth import KeyStore
from web4ai.api.context import ApiContext, ApiStats
from web4ai.api.hub import Hub
from web4ai.core.crs import AnyBody, Body
from web4ai.core.ratelimit import RateLimiter
from web4ai.core.resources import Resource
from web4ai.k8s.apikeys import entry
from web4ai.k8s.cache import ClusterState
from web4ai.k8s.errors import Conflict, NotFound
from web4ai.k8s.writing import Writer

ADMIN, READER, NODE_KEY = "w4a_admin_key", "w4a_reader_key", "w4a_node_key"
KEYS = {
    "admin": entry("admin", None, ADMIN),
    "reader": entry("read-only", None, READER),
    "node-a": entry("node", "node-a", NODE_KEY),
}


def merge(target: Body, patch: Body) -> Body:
    """RFC 7386 merge patch."""
    out = dict(target)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


class FakeWriter(Writer):
    """The API server's object store, in memory: create, read, merge and JSON patch."""

    def __init__(self) -> None:
        super().__init__(api=None, namespace="test")
        self.objects_by_name: dict[tuple[Resource, str], Body] = {}
        self.revision = 0

    def _stored(self, resource: Resource, body: Body) -> Body:
        self.revision += 1
        body = copy.deepcopy(body)
        body["metadata"]["resourceVersion"] = str(self.revision)
        body["metadata"].setdefault("uid", f"uid-{self.revision}")
        self.objects_by_name[resource, body["metadata"]["name"]] = body
        return copy.deepcopy(body)

    async def get(self, resource: Resource, name: str) -> Body | None:
        found = self.objects_by_name.get((resource, name))
        return copy.deepcopy(found) if found is not None else None

    async def read(self, resource: Resource, name: str) -> Body:
        found = await self.get(resource, name)
        if found is None:
            raise NotFound(404, f"{resource}/{name} not found")
        return found

    async def create(self, resource: Resource, body: AnyBody) -> Body:
        if (resource, body["metadata"]["name"]) in self.objects_by_name:
            raise Conflict(409, "already exists")
        return self._stored(resource, cast(Body, body))

    async def json_patch(self, resource: Resource, name: str, ops: list[Body]) -> Body:
        body = await self.read(resource, name)
        for op in ops:
            if op["op"] == "add" and op["path"].startswith("/spec/"):
                body.setdefault("spec", {})[op["path"].removeprefix("/spec/")] = op["value"]
        return self._stored(resource, body)

    async def json_patch_only(self, resource: Resource, name: str, ops: list[Body]) -> None:
        await self.json_patch(resource, name, ops)

    async def patch(
        self, resource: Resource, name: str, patch: Body, *, status: bool = False
    ) -> Body:
        self.writes[resource.plural] += 1
        found = self.objects_by_name.get((resource, name))
        if found is None:
            raise NotFound(404, "Not Found")
        guard = (patch.get("metadata") or {}).get("resourceVersion")
        if guard is not None and guard != found["metadata"]["resourceVersion"]:
            raise Conflict(409, "the object has been modified")  # a guarded patch
        return self._stored(resource, merge(found, patch))

    async def delete(self, resource: Resource, name: str, *_: Any, **__: Any) -> bool:
        self.writes[resource.plural] += 1
        return self.objects_by_name.pop((resource, name), None) is not None


class FakeKeys(KeyStore):
    """The key Secret, in memory."""

    async def _read(self) -> dict[str, str] | None:
        return dict(KEYS)


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def call(
    http: TestClient[web.Request, web.Application],
    method: str,
    path: str,
    key: str | None = ADMIN,
    **kwargs: Any,
) -> tuple[int, Any]:
    headers = (auth(key) if key else {}) | kwargs.pop("headers", {})
    async with http.request(method, "/api/v1" + path, headers=headers, **kwargs) as r:
        return r.status, await r.json()


def assert_error(status: int, body: Any, want: int, code: str) -> None:
    """The documented envelope: success false, error, timestamp, details.code."""
    assert status == want, body
    assert body["success"] is False and isinstance(body["error"], str) and body["error"]
    assert isinstance(body["timestamp"], str)
    assert body["details"]["code"] == code, body


REGISTRATION = {"host": "10.0.0.1", "port": 8090, "capabilities": ["test_task"]}


async def fake_context() -> ApiContext:
    state = ClusterState(None, "test")  # its informers never run
    for informer in state.informers:
        informer.synced.set()
    keys = FakeKeys(None, "test")
    await keys.reload()
    return ApiContext(
        state=state,
        writer=FakeWriter(),
        keys=keys,
        hub=Hub(lambda: 10),
        clock=time.time,
        stats=ApiStats(time.time()),
        limiter=RateLimiter(6000),
        websocket_url="",
        version="test",
    )
