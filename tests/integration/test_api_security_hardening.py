"""Issue 10 on the real stack: authenticated and role-filtered WebSockets on both
transports, submit-time callback refusals, bounded request costs and what a node
key may claim. The failed-auth flood runs last (this module has its own stack)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import websockets
from kubernetes_asyncio import client
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

from tests.conftest import ADMIN_KEY, Stack
from tests.integration.apiclient import Http, assert_error
from tests.integration.helpers import eventually
from web4ai.api.auth import SUBPROTOCOL, KeyStore, bearer_protocol

Receive = Callable[[], Awaitable[dict[str, Any]]]


@pytest.fixture
def http(stack: Stack) -> Http:
    return Http(stack.api.base, stack.headers)


async def add_key(
    api: client.ApiClient, stack: Stack, name: str, role: str, key: str, **extra: Any
) -> Http:
    """Store a key and wait until the API knows it (it watches the Secret). Each probe
    before that is a failed authentication: probing every 3 s stays within the
    per-address budget (30 a minute)."""
    await KeyStore(api, stack.namespace).add(name, role, key, **extra)
    keyed = Http(stack.api.base, {"Authorization": f"Bearer {key}"})

    async def known() -> bool:
        return (await keyed.get("/ws"))[0] != 401  # 400: not a WebSocket upgrade, but known

    await eventually(known, within=30, interval=3)
    return keyed


@pytest.fixture
async def viewer(stack: Stack, api: client.ApiClient) -> Http:
    return await add_key(api, stack, "viewer-10", "read-only", "viewer-10-key")


async def test_anonymous_and_invalid_clients_get_401_on_both_transports(stack: Stack) -> None:
    attempts: list[dict[str, Any]] = [
        {},
        {"additional_headers": {"Authorization": "Bearer wrong"}},
        {"subprotocols": [SUBPROTOCOL, bearer_protocol("wrong")]},
        {"subprotocols": [SUBPROTOCOL, "base64url.bearer.authorization.web4ai.io.!!"]},
    ]
    for kwargs in attempts:
        with pytest.raises(InvalidStatus) as info:
            await websockets.connect(stack.api.ws, **kwargs)
        response = info.value.response
        assert response.status_code == 401
        assert json.loads(response.body)["details"]["code"] == "AUTHENTICATION_FAILED"
    # a key in the query string is never read
    for url in (f"{stack.api.ws}/?api_key={ADMIN_KEY}", f"{stack.api.ws}/?token={ADMIN_KEY}"):
        with pytest.raises(InvalidStatus) as info:
            await websockets.connect(url)
        assert info.value.response.status_code == 401
    ws_url = stack.api.base.replace("http", "ws") + "/ws"
    async with aiohttp.ClientSession() as session:
        for url, protocols in (
            (ws_url, ()),
            (f"{ws_url}?api_key={ADMIN_KEY}", ()),
            (ws_url, (SUBPROTOCOL, bearer_protocol("wrong"))),
        ):
            with pytest.raises(aiohttp.WSServerHandshakeError) as err:
                await session.ws_connect(url, protocols=protocols)
            assert err.value.status == 401


async def test_a_browser_client_uses_the_subprotocol_and_sees_what_rest_shows(
    stack: Stack, http: Http, viewer: Http
) -> None:
    offered = [Subprotocol(SUBPROTOCOL), Subprotocol(bearer_protocol("viewer-10-key"))]
    port_9001 = await websockets.connect(stack.api.ws, subprotocols=offered)
    session = aiohttp.ClientSession()
    same_origin = await session.ws_connect(
        stack.api.base.replace("http", "ws") + "/ws", protocols=offered
    )
    try:
        # only the real subprotocol is echoed, never the key's entry
        assert port_9001.subprotocol == SUBPROTOCOL
        assert port_9001.response is not None
        assert port_9001.response.headers["Sec-WebSocket-Protocol"] == SUBPROTOCOL
        assert same_origin.protocol == SUBPROTOCOL

        async def recv_9001() -> dict[str, Any]:
            return json.loads(await port_9001.recv())  # type: ignore[no-any-return]

        async def recv_aiohttp() -> dict[str, Any]:
            return json.loads((await same_origin.receive()).data)  # type: ignore[no-any-return]

        receivers: list[Receive] = [recv_9001, recv_aiohttp]
        _, rest_status = await viewer.get("/status")
        for receive in receivers:
            first = await receive()
            assert first["type"] == "initial_status"
            assert set(first["data"]) == set(rest_status["data"])
        await http.post(
            "/tasks",
            {
                "task_id": "viewer-task",
                "task_type": "t",
                "input_data": {"q": 1},
                "requirements": {"capabilities": ["nobody-has-this"]},
            },
        )
        status, rest = await viewer.get("/tasks/viewer-task")
        assert status == 200
        for receive in receivers:
            msg = await next_message(receive, "task_submitted", task_id="viewer-task")
            for key in ("task_id", "task_type", "input_data", "priority", "requirements"):
                assert msg["data"][key] == rest["task"][key]
    finally:
        await port_9001.close()
        await same_origin.close()
        await session.close()


async def next_message(
    receive: Receive, kind: str, within: float = 20.0, **match: Any
) -> dict[str, Any]:
    async def find() -> dict[str, Any]:
        while True:
            msg = await receive()
            if msg["type"] == kind and all(msg["data"].get(k) == v for k, v in match.items()):
                return msg

    return await asyncio.wait_for(find(), within)


@pytest.fixture
async def node_feed(stack: Stack, api: client.ApiClient) -> AsyncIterator[tuple[Http, Any]]:
    node = await add_key(api, stack, "feed-a", "node", "feed-a-key", node_id="feed-a")
    conn = await websockets.connect(
        stack.api.ws, additional_headers={"Authorization": "Bearer feed-a-key"}
    )
    try:
        yield node, conn
    finally:
        await conn.close()


async def test_a_node_keys_feed_carries_only_its_own_node_and_tasks(
    stack: Stack, http: Http, node_feed: tuple[Http, Any]
) -> None:
    node, conn = node_feed
    admin_ws = await websockets.connect(stack.api.ws, additional_headers=stack.headers)
    try:
        first = json.loads(await conn.recv())
        assert first["type"] == "initial_status"
        assert "network_metrics" not in first["data"]  # REST does not show it the network

        async def admin_recv() -> dict[str, Any]:
            return json.loads(await admin_ws.recv())  # type: ignore[no-any-return]

        async def node_recv() -> dict[str, Any]:
            return json.loads(await conn.recv())  # type: ignore[no-any-return]

        reg = {"host": "10.1.1.1", "port": 8090}
        assert (await node.post("/nodes/feed-a/register", {**reg, "capabilities": ["fa"]}))[
            0
        ] == 200
        assert (await http.post("/nodes/feed-b/register", {**reg, "capabilities": ["fb"]}))[
            0
        ] == 200
        for task_id, cap in (("feed-b-task", "fb"), ("feed-a-task", "fa")):
            status, _ = await http.post(
                "/tasks",
                {
                    "task_id": task_id,
                    "task_type": "t",
                    "input_data": {"secret": f"{task_id}-input"},
                    "requirements": {"capabilities": [cap]},
                },
            )
            assert status == 200
        # another node's task finishes first, then this node's: the feed is in order,
        # so everything before this node's completion has been filtered already
        for task_id in ("feed-a-task", "feed-b-task"):

            async def assigned(task_id: str = task_id) -> bool:
                _, body = await http.get(f"/tasks/{task_id}")
                return bool(body["task"].get("node_id"))

            await eventually(assigned, within=20)
        await http.post("/tasks/feed-b-task/result", {"node_id": "feed-b", "status": "completed"})
        await next_message(admin_recv, "task_completed", task_id="feed-b-task")
        status, _ = await node.post(
            "/tasks/feed-a-task/result", {"node_id": "feed-a", "status": "completed"}
        )
        assert status == 200
        seen: list[dict[str, Any]] = []
        while not (seen and seen[-1]["type"] == "task_completed"):
            seen.append(await asyncio.wait_for(node_recv(), 20))
        kinds = [m["type"] for m in seen]
        assert "node_registered" in kinds and "task_assigned" in kinds
        assert seen[-1]["data"]["task_id"] == "feed-a-task"
        text = json.dumps(seen)
        assert "feed-b" not in text
        assert all(m["type"] not in ("network_status", "task_submitted") for m in seen)
        for m in seen:
            data = m["data"]
            assert data.get("node_id") == "feed-a", m
    finally:
        await admin_ws.close()


async def test_callback_urls_to_internal_addresses_are_refused_at_submit(http: Http) -> None:
    for url, why in (
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://[::ffff:a9fe:a9fe]/", "metadata"),
        ("http://2852039166/", "metadata"),
        ("http://0xa9.0xfe.0xa9.0xfe/", "metadata"),
        ("http://10.0.0.5/hook", "private"),
        ("http://127.0.0.1:1/hook", "loopback"),
    ):
        status, body = await http.post("/tasks", {"task_type": "x", "callback_url": url})
        assert_error(status, body, 400, "INVALID_REQUEST")
        assert body["details"]["errors"][0]["field"] == "callback_url"
        assert why in body["error"], body
    # the allow-lists open exactly what they say
    status, _ = await http.put(
        "/config", {"security": {"callback_allowed_networks": ["10.0.0.0/24"]}}
    )
    assert status == 200
    try:
        ok = await http.post("/tasks", {"task_type": "x", "callback_url": "http://10.0.0.5/h"})
        assert ok[0] == 200
        status, body = await http.post(
            "/tasks", {"task_type": "x", "callback_url": "http://10.0.1.5/h"}
        )
        assert_error(status, body, 400, "INVALID_REQUEST")
    finally:
        await http.put("/config", {"security": {"callback_allowed_networks": []}})
    status, body = await http.put(
        "/config", {"security": {"callback_allowed_networks": ["10.0.0.0/33"]}}
    )
    assert status == 400


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc")


async def test_a_64_mib_chunked_body_gets_413_as_soon_as_the_limit_is_crossed(
    stack: Stack,
) -> None:
    sent = 0
    chunk = b" " * (64 * 1024)
    peak_before = peak_rss_kib(stack.api.proc.pid)

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'{"task_type": "x", "input_data": {"pad": "'
        for _ in range(1024):  # 64 MiB
            sent += len(chunk)
            yield chunk
        yield b'"}}'

    async with (
        aiohttp.ClientSession() as session,
        session.post(
            stack.api.base + "/tasks",
            data=body(),
            headers={**stack.headers, "Content-Type": "application/json"},
        ) as resp,
    ):
        payload = await resp.json()
        assert resp.status == 413
        assert payload["details"]["code"] == "PAYLOAD_TOO_LARGE"
    peak_after = peak_rss_kib(stack.api.proc.pid)
    print(
        f"bytes sent by the client when the 413 arrived: {sent}; API peak RSS grew by "
        f"{peak_after - peak_before} KiB"
    )
    # the server never buffered the body: its peak memory did not grow by anything
    # like 64 MiB (how much the client managed to send first depends on the load)
    assert peak_after - peak_before < 16 * 1024


async def test_a_node_key_cannot_claim_more_than_it_may(
    stack: Stack, api: client.ApiClient
) -> None:
    node = await add_key(
        api, stack, "pinned", "node", "pinned-key", node_id="pinned", capabilities=["p1", "p2"]
    )
    reg = {"host": "10.1.1.1", "port": 8090, "capabilities": ["p1"]}
    status, body = await node.post("/nodes/pinned/register", {**reg, "agents_count": 100000})
    assert_error(status, body, 403, "FORBIDDEN")
    assert body["details"]["max_agents_per_node"] == 64
    status, body = await node.post("/nodes/pinned/register", {**reg, "max_concurrent_tasks": 65})
    assert_error(status, body, 403, "FORBIDDEN")
    status, body = await node.post("/nodes/pinned/register", {**reg, "capabilities": ["gpu"]})
    assert_error(status, body, 403, "FORBIDDEN")
    assert "gpu" in body["error"]
    assert (await node.post("/nodes/pinned/register", {**reg, "agents_count": 64}))[0] == 200
    status, body = await node.get("/nodes/pinned")
    assert status == 200 and body["node"]["agents_count"] == 64


async def test_zz_a_failed_auth_flood_is_rate_limited_per_address(stack: Stack) -> None:
    """Last in the module: it blocks this address's authentication for a while."""
    wrong = Http(stack.api.base, {"Authorization": "Bearer wrong-guess"})
    codes: list[int] = []
    retry_after = None
    for _ in range(40):
        status, body, headers = await wrong.call("GET", "/nodes")
        codes.append(status)
        if status == 429:
            assert_error(status, body, 429, "RATE_LIMITED")
            retry_after = int(headers["Retry-After"])
    assert codes[0] == 401 and codes[-1] == 429
    assert retry_after is not None and retry_after >= 1
    # the WebSocket handshake is limited by the same rule
    with pytest.raises(InvalidStatus) as info:
        await websockets.connect(stack.api.ws)
    assert info.value.response.status_code == 429
    assert "Retry-After" in info.value.response.headers

    async def recovered() -> bool:  # tokens refill: a wrong key is a 401 again
        status, _, _ = await wrong.call("GET", "/nodes")
        return status == 401

    await eventually(recovered, within=60, interval=2.5)
