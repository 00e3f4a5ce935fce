"""The floor under the heartbeat path: what a bare aiohttp server (no middleware, no
auth, no write to the API server) costs per request on this machine, with requests
paced as heartbeats arrive (one at a time) and in bursts (16 at a time).

    python -m bench.floor --requests 3000 --rate 100

Issue 21 asks for the API plus the operator to spend at most 0.6 ms of CPU per
heartbeat, and a heartbeat is one request to the API, one Lease write to the API
server and a watch event to each of the two processes. This measures the first of
those alone, on the event loop the processes run on (``web4ai.eventloop``) and on
asyncio's own, back to back in one run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time

import aiohttp
from aiohttp import web

from bench.common import cpu_seconds
from devtools.localcluster.ports import free_port


def serve(port: int, loop: str) -> None:
    async def heartbeat(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"success": True, "heartbeat_interval": 30.0})

    app = web.Application()
    app.router.add_post("/heartbeat", heartbeat)
    if loop == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


async def drive(port: int, requests: int, rate: float, burst: int) -> None:
    url = f"http://127.0.0.1:{port}/heartbeat"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as http:

        async def one() -> None:
            async with http.post(url, json={}) as r:
                await r.read()

        start = time.monotonic()
        pending = []
        for i in range(0, requests, burst):
            pending += [asyncio.create_task(one()) for _ in range(burst)]
            await asyncio.sleep(max(0.0, start + (i + burst) / rate - time.monotonic()))
        await asyncio.gather(*pending)


def measure(loop: str, requests: int, rate: float, burst: int) -> float:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.floor", "--serve", str(port), "--loop", loop],
        env={**os.environ},
    )
    try:
        for _ in range(100):
            try:
                asyncio.run(drive(port, 1, 1000, 1))
                break
            except aiohttp.ClientError:
                time.sleep(0.1)
        before = cpu_seconds(server.pid)
        asyncio.run(drive(port, requests, rate, burst))
        return 1000 * (cpu_seconds(server.pid) - before) / requests
    finally:
        server.terminate()
        server.wait()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--requests", type=int, default=3000)
    p.add_argument("--rate", type=float, default=100.0, help="requests per second")
    p.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    p.add_argument("--loop", default="uvloop", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve:
        serve(args.serve, args.loop)
        return
    for burst in (1, 16):
        for loop in ("uvloop", "asyncio"):
            ms = measure(loop, args.requests, args.rate, burst)
            print(
                f"bare aiohttp on {loop:7}, {args.rate:g} requests/s in bursts of {burst:2}: "
                f"{ms:.3f} ms CPU per request",
                flush=True,
            )


if __name__ == "__main__":
    main()
