"""One WebSocket hub behind both transports (aiohttp on /api/v1/ws, websockets
on 9001): bounded per-client queues and send timeouts, so a slow client is
disconnected instead of stalling the others."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

Send = Callable[[str], Awaitable[None]]
Close = Callable[[int, str], Awaitable[None]]

SLOW_CLIENT = 4008  # private-use close code: the client did not keep up


def message(kind: str, data: Any, now: float | None = None) -> str:
    ts = time.time() if now is None else now
    return json.dumps({"type": kind, "data": data, "timestamp": ts})


@dataclass(eq=False)
class Client:
    send: Send
    close: Close
    queue: asyncio.Queue[str]
    overflowed: bool = False
    transport: str = "dedicated_port"


@dataclass
class Hub:
    max_connections: Callable[[], int]
    queue_size: int = 256
    send_timeout: float = 5.0
    clients: set[Client] = field(default_factory=set)
    published: int = 0
    disconnected_slow: int = 0

    @property
    def connected(self) -> int:
        return len(self.clients)

    def full(self) -> bool:
        return len(self.clients) >= self.max_connections()

    def publish(self, kind: str, data: Any) -> None:
        text = message(kind, data)
        self.published += 1
        for client in list(self.clients):
            try:
                client.queue.put_nowait(text)
            except asyncio.QueueFull:
                client.overflowed = True

    async def serve(
        self,
        send: Send,
        close: Close,
        first: str,
        receive: Callable[[], Awaitable[bool]],
        transport: str = "dedicated_port",
    ) -> None:
        """Run one connection until the peer leaves, or is too slow.

        ``receive`` waits for the next inbound frame and returns False at the end.
        """
        client = Client(send, close, asyncio.Queue(self.queue_size), transport=transport)
        client.queue.put_nowait(first)
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
            if client.overflowed:
                self.disconnected_slow += 1
                await client.close(SLOW_CLIENT, "client too slow")
                return
            text = await client.queue.get()
            try:
                await asyncio.wait_for(client.send(text), self.send_timeout)
            except (TimeoutError, ConnectionError):
                self.disconnected_slow += 1
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(client.close(SLOW_CLIENT, "send timed out"), 1.0)
                return

    async def close_all(self, code: int, reason: str) -> None:
        for client in list(self.clients):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.close(code, reason), 2.0)
