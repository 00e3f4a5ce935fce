"""WebSocket clients for bench.api in a process of their own: so that 1,000 clients
are not measured by the loop that also sends the tasks.

    python -m bench.wsclients URL KEY CLIENTS PREFIX EXPECTED

Connects ``CLIENTS`` clients (each reads its ``initial_status``), prints ``ready``,
then records the wall-clock arrival of every ``task_submitted`` whose task id starts
with ``PREFIX`` until each client has ``EXPECTED`` of them (or 60 s passed), and
prints ``{task_id: [arrival, ...]}`` and the count closed by the server as JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from typing import Any

import websockets


async def main_async(url: str, key: str, clients: int, prefix: str, expected: int) -> None:
    auth = {"Authorization": f"Bearer {key}"}
    conns = []
    for _ in range(clients):
        try:
            conns.append(await websockets.connect(url, max_size=2**22, additional_headers=auth))
        except websockets.InvalidStatus as exc:
            why = exc.response.body.decode(errors="replace")
            raise SystemExit(f"refused after {len(conns)} clients: {exc}: {why}") from None
    for c in conns:
        await c.recv()  # initial_status
    arrivals: dict[str, list[float]] = {}

    head = b'{"type": "task_submitted"'
    marker = b'"task_id": "' + prefix.encode()

    async def reader(c: Any) -> None:
        # bytes, and a look for the task id instead of parsing every message: the
        # clients' own CPU must not be what is measured (one machine)
        got = 0
        while True:
            raw = await c.recv(decode=False)
            at = raw.find(marker) if raw.startswith(head) else -1
            if at < 0:
                continue
            start = at + len(marker) - len(prefix)
            task_id = raw[start : raw.index(b'"', start)].decode()
            arrivals.setdefault(task_id, []).append(time.time())
            got += 1
            if got >= expected:
                return

    print("ready", flush=True)
    readers = [asyncio.create_task(reader(c)) for c in conns]
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*readers, return_exceptions=True), 60)
    closed = sum(1 for c in conns if c.close_code is not None)
    for c in conns:
        with contextlib.suppress(Exception):
            await c.close()
    print(json.dumps({"arrivals": arrivals, "closed_by_server": closed}), flush=True)


def main() -> None:
    url, key, clients, prefix, expected = sys.argv[1:6]
    asyncio.run(main_async(url, key, int(clients), prefix, int(expected)))


if __name__ == "__main__":
    main()
