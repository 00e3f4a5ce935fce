"""The WebSocket hub without sockets: role filtering and byte-bounded queues."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from web4ai.api.auth import Principal, bearer_protocol, split_protocols
from web4ai.api.hub import SLOW_CLIENT, Hub


async def test_a_client_over_its_byte_bound_is_closed_with_a_reason() -> None:
    hub = Hub(lambda: 10, queue_bytes=10_000)
    release = asyncio.Event()
    sent: list[bytes] = []
    closed: list[tuple[int, str]] = []

    async def send(frame: bytes) -> None:
        await release.wait()  # a client that does not read
        sent.append(frame)

    async def close(code: int, reason: str) -> None:
        closed.append((code, reason))
        release.set()

    async def receive() -> bool:
        await asyncio.Event().wait()
        return False

    serving = asyncio.create_task(hub.serve(send, close, "{}", receive))
    await asyncio.sleep(0)  # serve() registers the client before its first wait
    assert hub.clients
    for i in range(10):
        hub.publish("task_submitted", {"pad": "x" * 2000, "i": i})
    await asyncio.wait_for(serving, 5)
    assert closed == [(SLOW_CLIENT, "send queue over 10000 bytes")]
    assert hub.disconnected_slow == 1 and not hub.clients


async def test_messages_are_filtered_by_role() -> None:
    hub = Hub(lambda: 10)
    got: dict[str, list[str]] = {"admin": [], "viewer": [], "node-a": []}
    principals = {
        "admin": Principal("admin", "admin"),
        "viewer": Principal("viewer", "read-only"),
        "node-a": Principal("node-a", "node", "node-a"),
    }
    done = asyncio.Event()
    ended = {name: asyncio.Event() for name in principals}

    def sender(name: str) -> Callable[[bytes], Awaitable[None]]:
        async def send(frame: bytes) -> None:
            text = frame.decode()
            got[name].append(text)
            if '"end"' in text:
                ended[name].set()

        return send

    async def close(code: int, reason: str) -> None:
        return None

    async def receive() -> bool:
        await done.wait()
        return False

    tasks = [
        asyncio.create_task(hub.serve(sender(n), close, "first", receive, p))
        for n, p in principals.items()
    ]
    await asyncio.sleep(0)
    assert len(hub.clients) == 3
    hub.publish("network_status", {})
    hub.publish("task_assigned", {"task_id": "t-b"}, node="node-b")
    hub.publish("task_assigned", {"task_id": "t-a"}, node="node-a")
    hub.publish("end", {}, node="node-a")  # the queues are FIFO: everything before is sent
    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in ended.values())), 5)
    done.set()
    await asyncio.gather(*tasks)
    assert len(got["admin"]) == len(got["viewer"]) == 5
    assert len(got["node-a"]) == 3 and "t-a" in got["node-a"][1]
    assert not any("t-b" in text or "network_status" in text for text in got["node-a"])


def test_the_bearer_subprotocol_round_trips_and_never_counts_as_a_real_one() -> None:
    entry = bearer_protocol("w4a_key+/=?")
    assert "=" not in entry.rsplit(".", 1)[1]
    key, real = split_protocols(f"web4ai.v1, {entry}")
    assert key == "w4a_key+/=?" and real == ["web4ai.v1"]
    assert split_protocols("web4ai.v1") == (None, ["web4ai.v1"])
    assert split_protocols("base64url.bearer.authorization.web4ai.io.%%%")[0] == ""
