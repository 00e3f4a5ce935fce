"""The Writer's kept-alive connections (web4ai.k8s.keepalive) against a loopback
HTTP/1.1 server that answers the ways an API server or a proxy in front of it may:
by Content-Length, in chunks, until the connection closes, closing an idle
connection, or closing without an answer. (The real API server: test_writer.py.)"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from kubernetes_asyncio import client

from web4ai.k8s import keepalive
from web4ai.k8s.errors import K8sError
from web4ai.k8s.keepalive import KeptAlive


@dataclass
class Server:
    port: int = 0
    connections: int = 0
    requests: list[tuple[str, bytes]] = field(default_factory=list)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode().split("\r\n")
                method, path, _ = lines[0].split(" ")
                length = next(
                    int(v)
                    for k, _, v in (h.partition(": ") for h in lines[1:])
                    if k == "Content-Length"
                )
                body = await reader.readexactly(length)
                self.requests.append((f"{method} {path}", body))
                if not await self.answer(path, writer):
                    break
        except asyncio.IncompleteReadError:
            pass
        finally:
            writer.close()

    async def answer(self, path: str, writer: asyncio.StreamWriter) -> bool:
        """Answer ``path``; False: close the connection."""
        doc = json.dumps({"path": path}).encode()
        if path == "/json":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(doc) + doc)
        elif path == "/chunked":
            parts = [doc[:5], doc[5:]]
            chunks = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(p), p) for p in parts)
            writer.write(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                + chunks
                + b"0\r\nX-Trailer: t\r\n\r\n"
            )
        elif path == "/until-close":
            writer.write(b"HTTP/1.1 200 OK\r\n\r\n" + doc)
            await writer.drain()
            return False
        elif path == "/then-idle-close":  # answered as kept alive, closed right after
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(doc) + doc)
            await writer.drain()
            return False
        elif path == "/silent":
            return False
        elif path == "/busy":
            status = b'{"kind":"Status","reason":"TooManyRequests"}'
            writer.write(
                b"HTTP/1.1 429 Too Many Requests\r\nretry-after: 3\r\nContent-Length: %d\r\n\r\n"
                % len(status)
                + status
            )
        await writer.drain()
        return True


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    srv = Server()
    listening = await asyncio.start_server(srv.serve, "127.0.0.1", 0)
    srv.port = listening.sockets[0].getsockname()[1]
    async with listening:
        yield srv


@pytest.fixture
async def kept(server: Server) -> AsyncIterator[KeptAlive]:
    api = client.ApiClient(client.Configuration(host=f"http://127.0.0.1:{server.port}"))
    made = KeptAlive.of(api)
    assert made is not None
    try:
        yield made
    finally:
        await made.close()
        await api.close()


async def test_requests_share_one_connection_and_bodies_arrive_whole(
    server: Server, kept: KeptAlive
) -> None:
    for _ in range(5):
        assert await kept.send("PATCH", "/json", {"a": "é"}) == {"path": "/json"}
    assert await kept.send("GET", "/chunked") == {"path": "/chunked"}
    assert await kept.send("GET", "/json", parse=False) is None
    assert server.connections == 1
    assert server.requests[0] == (
        "PATCH /json",
        json.dumps({"a": "é"}, separators=(",", ":")).encode(),
    )
    assert server.requests[5] == ("GET /chunked", b"")


async def test_an_answer_until_the_connection_closes_is_read_and_the_connection_dropped(
    server: Server, kept: KeptAlive
) -> None:
    assert await kept.send("GET", "/until-close") == {"path": "/until-close"}
    assert await kept.send("GET", "/json") == {"path": "/json"}
    assert server.connections == 2


async def test_a_connection_closed_while_idle_is_replaced_and_the_request_sent_again(
    server: Server, kept: KeptAlive
) -> None:
    await kept.send("GET", "/then-idle-close")
    await asyncio.sleep(0.05)  # the server has closed it by now
    assert await kept.send("PATCH", "/json", {"n": 1}) == {"path": "/json"}
    assert server.connections == 2
    assert [r for r, _ in server.requests] == ["GET /then-idle-close", "PATCH /json"]


async def test_a_new_connection_closed_without_an_answer_is_an_error_not_a_loop(
    server: Server, kept: KeptAlive
) -> None:
    with pytest.raises(ConnectionResetError):
        await kept.send("GET", "/silent")
    assert server.connections == 1
    assert await kept.send("GET", "/json") == {"path": "/json"}  # and the next one works


async def test_an_error_answer_is_raised_typed_with_its_headers(
    server: Server, kept: KeptAlive
) -> None:
    with pytest.raises(K8sError) as busy:
        await kept.send("POST", "/busy", {})
    assert busy.value.status == 429
    assert busy.value.headers is not None and busy.value.headers["Retry-After"] == "3"
    assert "TooManyRequests" in str(busy.value.body)
    assert await kept.send("GET", "/json") == {"path": "/json"}  # the connection is kept
    assert server.connections == 1


async def test_a_cancelled_request_closes_its_connection(server: Server, kept: KeptAlive) -> None:
    request = asyncio.ensure_future(kept.send("GET", "/json"))
    request.cancel()
    with pytest.raises(asyncio.CancelledError):
        await request
    assert kept.idle == []
    assert await kept.send("GET", "/json") == {"path": "/json"}


def test_behind_a_proxy_the_session_carries_the_requests() -> None:
    conf = client.Configuration(host="https://10.0.0.1:6443")
    conf.proxy = "http://proxy:3128"

    class Api:
        configuration = conf

        class rest_client:
            proxy = conf.proxy

    assert KeptAlive.of(Api()) is None


async def test_when_every_idle_connection_was_closed_the_retry_takes_a_new_one(
    server: Server, kept: KeptAlive
) -> None:
    await asyncio.gather(*(kept.send("GET", "/then-idle-close") for _ in range(3)))
    assert len(kept.idle) == 3 and server.connections == 3
    await asyncio.sleep(0.05)  # the server has closed all three by now
    assert await kept.send("GET", "/json") == {"path": "/json"}
    assert server.connections == 4


async def test_a_connection_idle_too_long_is_closed_not_used(
    server: Server, kept: KeptAlive, monkeypatch: pytest.MonkeyPatch
) -> None:
    await kept.send("GET", "/json")
    monkeypatch.setattr(keepalive, "IDLE", 0.0)
    await kept.send("GET", "/json")
    assert server.connections == 2
    assert [r for r, _ in server.requests] == ["GET /json", "GET /json"]  # none sent twice
