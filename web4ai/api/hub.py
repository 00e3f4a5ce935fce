"""One WebSocket hub behind both transports (aiohttp on /api/v1/ws, websockets
on 9001): per-client send queues bounded in bytes and send timeouts, so a slow
client is disconnected (with a reason) instead of stalling the others or
growing memory. Every message is filtered by the client's principal: admin and
read-only keys see everything REST shows them, a node key only its own node
and the tasks on it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from web4ai.api.auth import ANONYMOUS, Principal

log = logging.getLogger(__name__)

Send = Callable[[bytes], Awaitable[None]]  # one text frame of UTF-8 JSON
Close = Callable[[int, str], Awaitable[None]]

SLOW_CLIENT = 4008  # private-use close code: the client did not keep up


def message(kind: str, data: Any, now: float | None = None) -> str:
    ts = time.time() if now is None else now
    return json.dumps({"type": kind, "data": data, "timestamp": ts})


@dataclass(eq=False)
class Client:
    send: Send
    close: Close
    # a text frame's UTF-8 bytes; None: wake the pump to close an overflowed client
    queue: asyncio.Queue[bytes | None]
    principal: Principal = ANONYMOUS
    queued_bytes: int = 0
    overflowed: str | None = None
    transport: str = "dedicated_port"


@dataclass
class Hub:
    max_connections: Callable[[], int]
    queue_size: int = 1024
    queue_bytes: int = 1024 * 1024  # per client: over this, it is closed
    send_timeout: float = 5.0
    clients: set[Client] = field(default_factory=set)
    published: int = 0
    disconnected_slow: int = 0

    @property
    def connected(self) -> int:
        return len(self.clients)

    def full(self) -> bool:
        return len(self.clients) >= self.max_connections()

    def wants(self, node: str | None = None) -> bool:
        """Whether any client may see a message about ``node``: when none does, the
        message need not even be made."""
        return any(c.principal.sees_node(node) for c in self.clients)

    def publish(self, kind: str, data: Any, node: str | None = None) -> None:
        """Send a message to every client allowed to see it: ``node`` is the node it
        concerns (None for the whole network, or a task on no node yet)."""
        # serialized and encoded once for every client: each is sent the same bytes
        frame = message(kind, data).encode()
        self.published += 1
        for client in list(self.clients):
            if client.principal.sees_node(node):
                self.enqueue(client, frame)

    def enqueue(self, client: Client, frame: bytes) -> None:
        if client.overflowed:
            return
        size = len(frame)
        if client.queued_bytes + size > self.queue_bytes or client.queue.qsize() >= self.queue_size:
            client.overflowed = f"send queue over {self.queue_bytes} bytes"
            with contextlib.suppress(asyncio.QueueFull):
                client.queue.put_nowait(None)
            return
        client.queued_bytes += size
        client.queue.put_nowait(frame)

    async def serve(
        self,
        send: Send,
        close: Close,
        first: str,
        receive: Callable[[], Awaitable[bool]],
        principal: Principal = ANONYMOUS,
        transport: str = "dedicated_port",
    ) -> None:
        """Run one connection until the peer leaves, or is too slow.

        ``receive`` waits for the next inbound frame and returns False at the end.
        """
        client = Client(
            send, close, asyncio.Queue(self.queue_size + 1), principal, transport=transport
        )
        self.enqueue(client, first.encode())
        self.clients.add(client)
        sender = asyncio.create_task(self._pump(client))
        reader = asyncio.create_task(self._drain(receive))
        try:
            await asyncio.wait({sender, reader}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.clients.discard(client)
            for task in (sender, reader):
                task.cancel()
            for task in (sender, reader):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _drain(self, receive: Callable[[], Awaitable[bool]]) -> None:
        while await receive():
            pass

    async def _pump(self, client: Client) -> None:
        while True:
            item = await client.queue.get()
            if client.overflowed or item is None:
                self.disconnected_slow += 1
                log.info("closing a WebSocket client: %s", client.overflowed)
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(
                        client.close(SLOW_CLIENT, client.overflowed or "client too slow"), 1.0
                    )
                return
            client.queued_bytes -= len(item)
            try:
                # a timeout scope, not wait_for: no task per message and client
                async with asyncio.timeout(self.send_timeout):
                    await client.send(item)
            except (TimeoutError, ConnectionError):
                self.disconnected_slow += 1
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(client.close(SLOW_CLIENT, "send timed out"), 1.0)
                return

    async def close_all(self, code: int, reason: str) -> None:
        for client in list(self.clients):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.close(code, reason), 2.0)
