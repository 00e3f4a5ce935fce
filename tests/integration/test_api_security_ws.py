"""API keys and roles, rate limiting, and the WebSocket message flow on both
transports."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
import websockets
from kubernetes_asyncio import client

from tests.conftest import ADMIN_KEY, Stack
from tests.integration.apiclient import Http, assert_error
from web4ai.api.auth import KeyStore

REGISTRATION = {"host": "10.1.1.1", "port": 8090, "capabilities": ["ws_cap"]}


@pytest.fixture
def http(stack: Stack) -> Http:
    return Http(stack.api.base, stack.headers)


async def test_api_keys_and_roles(stack: Stack, api: client.ApiClient) -> None:
    anonymous = Http(stack.api.base)
    status, body, headers = await anonymous.call("GET", "/status")
    assert_error(status, body, 401, "AUTHENTICATION_FAILED")
    assert headers["WWW-Authenticate"].startswith("Bearer")
    status, body = await Http(stack.api.base, {"Authorization": "Bearer wrong"}).get("/nodes")
    assert_error(status, body, 401, "AUTHENTICATION_FAILED")
    status, body = await Http(stack.api.base, {"Authorization": ADMIN_KEY}).get("/nodes")
    assert_error(status, body, 401, "AUTHENTICATION_FAILED")  # the scheme is required

    store = KeyStore(api, stack.namespace)
    await store.add("viewer", "read-only", "viewer-key")
    await store.add("node-a", "node", "node-a-key", node_id="node-a")
    # no wait: every replica watches the key Secret, and re-reads it on an unknown key

    # the Secret holds hashes only
    secret = await client.CoreV1Api(api).read_namespaced_secret("web4ai-api-keys", stack.namespace)
    assert "viewer-key" not in json.dumps(secret.data)
    assert ADMIN_KEY not in json.dumps(secret.data)

    viewer = Http(stack.api.base, {"Authorization": "Bearer viewer-key"})
    assert (await viewer.get("/nodes"))[0] == 200
    status, body = await viewer.post("/tasks", {"task_type": "x"})
    assert_error(status, body, 403, "FORBIDDEN")

    node = Http(stack.api.base, {"Authorization": "Bearer node-a-key"})
    assert (await node.post("/nodes/node-a/register", REGISTRATION))[0] == 200
    assert (await node.post("/nodes/node-a/heartbeat", {"cpu_usage": 3}))[0] == 200
    status, body = await node.post("/nodes/node-b/register", REGISTRATION)
    assert_error(status, body, 403, "FORBIDDEN")
    status, body = await node.post("/tasks", {"task_type": "x"})
    assert_error(status, body, 403, "FORBIDDEN")
    status, body = await node.get("/nodes")
    assert_error(status, body, 403, "FORBIDDEN")
    # a node key may not act as another node in the node protocol
    admin = Http(stack.api.base, stack.headers)
    await admin.post("/nodes/node-c/register", {**REGISTRATION, "capabilities": ["c-only"]})
    await admin.post(
        "/tasks",
        {"task_id": "for-c", "task_type": "x", "requirements": {"capabilities": ["c-only"]}},
    )
    status, body = await node.post("/tasks/for-c/start", {"node_id": "node-c"})
    assert_error(status, body, 403, "FORBIDDEN")
    status, body = await node.get("/tasks/for-c")
    assert_error(status, body, 403, "FORBIDDEN")


async def test_rate_limit_429_with_retry_after(stack: Stack, http: Http) -> None:
    status, _ = await http.put("/config", {"security": {"max_requests_per_minute": 5}})
    assert status == 200
    try:
        codes = []
        retry_after = None
        for _ in range(12):
            status, body, headers = await http.call("GET", "/nodes")
            codes.append(status)
            if status == 429:
                assert_error(status, body, 429, "RATE_LIMITED")
                retry_after = int(headers["Retry-After"])
        assert 429 in codes
        assert retry_after is not None and 1 <= retry_after <= 60
    finally:
        for _ in range(120):  # wait for a token, then lift the limit
            status, _ = await http.put("/config", {"security": {"max_requests_per_minute": 6000}})
            if status == 200:
                break
            await asyncio.sleep(1)
    assert status == 200


async def test_heartbeats_have_a_budget_of_their_own(stack: Stack, http: Http) -> None:
    """A key whose budget is spent still heartbeats at the pace it is told; beyond a
    burst of five at once, heartbeats get 429 with Retry-After as well."""
    status, _ = await http.post("/nodes/paced-node/register", REGISTRATION)
    assert status == 200
    status, _ = await http.put("/config", {"security": {"max_requests_per_minute": 5}})
    assert status == 200
    try:
        for _ in range(6):  # the key's budget is spent
            status, _body, _headers = await http.call("GET", "/nodes")
        assert status == 429
        codes = []
        for _ in range(20):
            status, body, headers = await http.call("POST", "/nodes/paced-node/heartbeat", {})
            codes.append(status)
            if status == 429:
                assert_error(status, body, 429, "RATE_LIMITED")
                assert 1 <= int(headers["Retry-After"]) <= 60
        assert codes[:4] == [200] * 4 and 429 in codes
    finally:
        for _ in range(120):  # wait for a token, then lift the limit
            status, _ = await http.put("/config", {"security": {"max_requests_per_minute": 6000}})
            if status == 200:
                break
            await asyncio.sleep(1)
    assert status == 200


async def next_of(receive: Any, kind: str, within: float = 20.0, **match: str) -> dict[str, Any]:
    """The next message of ``kind`` whose data has the ``match`` values (other tests'
    nodes and tasks share the namespace)."""

    async def find() -> dict[str, Any]:
        while True:
            msg = json.loads(await receive())
            if msg["type"] == kind and all(msg["data"].get(k) == v for k, v in match.items()):
                return msg  # type: ignore[no-any-return]

    return await asyncio.wait_for(find(), within)


async def test_websocket_message_flow_on_both_transports(stack: Stack, http: Http) -> None:
    """The JavaScript example's flow, driven from Python: initial_status on connect,
    then node_registered, task_submitted, task_assigned, task_completed, node_failure."""
    await http.put("/config", {"orchestrator": {"heartbeat_interval": 1}})
    session = aiohttp.ClientSession()
    same_origin = await session.ws_connect(
        stack.api.base.replace("http", "ws") + "/ws", headers=stack.headers
    )
    port_9001 = await websockets.connect(stack.api.ws, additional_headers=stack.headers)
    try:

        async def recv_aiohttp() -> str:
            return str((await same_origin.receive()).data)

        receivers: list[Any] = [recv_aiohttp, port_9001.recv]
        for receive in receivers:
            first = json.loads(await receive())
            assert first["type"] == "initial_status"
            assert "network_metrics" in first["data"] and first["timestamp"] > 0
        await http.post("/nodes/ws-node/register", {**REGISTRATION, "capabilities": ["ws_only"]})
        for receive in receivers:
            msg = await next_of(receive, "node_registered", node_id="ws-node")
            assert msg["data"]["node_id"] == "ws-node"
        await http.post(
            "/tasks",
            {"task_id": "ws-task", "task_type": "t", "requirements": {"capabilities": ["ws_only"]}},
        )
        for receive in receivers:
            assert (await next_of(receive, "task_submitted", task_id="ws-task"))["data"][
                "task_id"
            ] == "ws-task"
            assert (await next_of(receive, "task_assigned", task_id="ws-task"))["data"][
                "node_id"
            ] == "ws-node"
        await http.post("/tasks/ws-task/result", {"node_id": "ws-node", "status": "completed"})
        for receive in receivers:
            msg = await next_of(receive, "task_completed", task_id="ws-task")
            assert msg["data"]["status"] == "completed"
        for receive in receivers:  # no heartbeats for 3 x 1 s: the node fails
            msg = await next_of(receive, "node_failure", node_id="ws-node")
            assert msg["data"]["node_id"] == "ws-node"
        for receive in receivers:
            msg = await next_of(receive, "network_status", within=10)
            assert "active_nodes" in msg["data"]["network_metrics"]
    finally:
        await same_origin.close()
        await session.close()
        await port_9001.close()
        await http.put("/config", {"orchestrator": {"heartbeat_interval": 30}})


async def test_websocket_connection_limit(stack: Stack, http: Http) -> None:
    await http.put("/config", {"websocket": {"max_connections": 2}})
    conns = []
    try:
        # anonymous clients are refused before they can take a slot
        anonymous = []
        for _ in range(3):
            with pytest.raises(websockets.exceptions.InvalidStatus) as info:
                anonymous.append(await websockets.connect(stack.api.ws))
            assert info.value.response.status_code == 401
        conns = [
            await websockets.connect(stack.api.ws, additional_headers=stack.headers)
            for _ in range(2)
        ]
        with pytest.raises(websockets.exceptions.InvalidStatus) as info:
            await websockets.connect(stack.api.ws, additional_headers=stack.headers)
        assert info.value.response.status_code == 503
        async with (
            aiohttp.ClientSession() as s,
            s.get(stack.api.base + "/ws", headers=stack.headers) as r,
        ):
            assert r.status == 503
            assert (await r.json())["details"]["code"] == "TOO_MANY_CONNECTIONS"
    finally:
        for c in conns:
            await c.close()
        await http.put("/config", {"websocket": {"max_connections": 100}})


async def test_a_slow_client_does_not_stall_the_others(stack: Stack, http: Http) -> None:
    slow = await websockets.connect(  # never reads
        stack.api.ws, max_queue=1, additional_headers=stack.headers
    )
    fast = await websockets.connect(stack.api.ws, additional_headers=stack.headers)
    try:
        await fast.recv()  # initial_status
        for i in range(40):
            await http.post(
                "/tasks",
                {
                    "task_id": f"flood-{i}",
                    "task_type": "t",
                    "input_data": {"pad": "x" * 20000},
                    "requirements": {"capabilities": ["none"]},
                },
            )
        seen: set[str] = set()
        while len(seen) < 40:
            msg = json.loads(await asyncio.wait_for(fast.recv(), 10))
            if msg["type"] == "task_submitted":
                seen.add(msg["data"]["task_id"])
    finally:
        await slow.close()
        await fast.close()
