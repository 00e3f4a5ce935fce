"""The API's own CPU per heartbeat, without the API server: the real app (routes,
middlewares, validation, access line, held renewals) on loopback over the unit tests'
in-memory Kubernetes (tests.unit.apiapp), in a process of its own; the nodes are a
keep-alive aiohttp client here. What it leaves out is what bench.scale adds: the Lease
writes over TLS, their watch events and the work that grows with the nodes.

The server's CPU (time.process_time, its own) is read before and after each round of
``--beats`` heartbeats, one per node (``--nodes`` registered first); the first round
warms up. Median of ``--rounds``.

python -m bench.hbpath --nodes 20000 --beats 20000 --rounds 3

With ``--rate`` the heartbeats of a round are sent at that pace, as the nodes send them
(each one then wakes the API on its own, which at full speed many share):

python -m bench.hbpath --nodes 10000 --beats 3000 --rate 100 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time

import aiohttp

PORT = 18777
BODY = {"status": "active", "cpu_usage": 10.0, "memory_usage": 20.0, "load_score": 0.1}


async def serve(port: int) -> None:
    """The API app on the in-memory fake; prints its CPU seconds on each line read."""
    from aiohttp import web

    from tests.unit.apiapp import ADMIN, fake_context
    from web4ai.api.app import BACKGROUND, create_app
    from web4ai.api.server import AccessLog
    from web4ai.core import bodies
    from web4ai.core.resources import ORCHESTRATORS

    ctx = await fake_context()
    spec = {
        "security": {"maxRequestsPerMinute": 10**9},
        "network": {"maxNodes": 10**6, "maxHeartbeatsPerSecond": 10**6},
    }
    orch = await ctx.writer.create(
        ORCHESTRATORS, {"metadata": {"name": bodies.ORCHESTRATOR_NAME}, "spec": spec}
    )
    ctx.state.record_orchestrator(orch)
    app = create_app(ctx)
    for job in BACKGROUND:  # no informers: the fake writer feeds the cache
        app.cleanup_ctx.remove(job)
    runner = web.AppRunner(app, access_log_class=AccessLog)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print("ready", ADMIN, flush=True)
    loop = asyncio.get_running_loop()
    while await loop.run_in_executor(None, sys.stdin.readline):
        print(time.process_time(), flush=True)
    await runner.cleanup()


def server_cpu(server: subprocess.Popen[str]) -> float:
    assert server.stdin is not None and server.stdout is not None
    server.stdin.write("cpu\n")
    server.stdin.flush()
    return float(server.stdout.readline())


async def drive(args: argparse.Namespace, server: subprocess.Popen[str]) -> None:
    try:
        assert server.stdout is not None
        ready, key = server.stdout.readline().split()
        assert ready == "ready"
        base = f"http://127.0.0.1:{args.port}/api/v1"
        limit = asyncio.Semaphore(args.concurrency)
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as http:

            async def call(path: str, body: dict[str, object]) -> int:
                async with limit, http.post(base + path, json=body) as answer:
                    await answer.read()
                    return answer.status

            register = {"host": "10.0.0.1", "port": 8090}
            codes = await asyncio.gather(
                *(call(f"/nodes/n{i}/register", register) for i in range(args.nodes))
            )
            assert set(codes) == {200}, set(codes)

            async def paced(i: int, started: float) -> int:
                if args.rate:  # the i-th heartbeat at its time, as nodes beat
                    await asyncio.sleep(max(0.0, started + i / args.rate - time.monotonic()))
                return await call(f"/nodes/n{i % args.nodes}/heartbeat", BODY)

            per_beat = []
            for round_ in range(args.rounds + 1):
                before, started = server_cpu(server), time.monotonic()
                codes = await asyncio.gather(*(paced(i, started) for i in range(args.beats)))
                cpu, wall = server_cpu(server) - before, time.monotonic() - started
                assert set(codes) == {200}, set(codes)
                label = "warm-up" if round_ == 0 else f"round {round_}"
                print(
                    f"{label}: {1000 * cpu / args.beats:.3f} ms CPU per heartbeat, "
                    f"{args.beats / wall:.0f}/s",
                    flush=True,
                )
                if round_:
                    per_beat.append(1000 * cpu / args.beats)
        print(
            f"median: {statistics.median(per_beat):.3f} ms CPU per heartbeat (the API "
            "alone, no API server)",
            flush=True,
        )
    finally:
        server.terminate()
        server.wait(10)


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--nodes", type=int, default=20000)
    p.add_argument("--beats", type=int, default=20000, help="heartbeats per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument(
        "--rate", type=float, default=0.0, help="heartbeats/s (0: as fast as the API answers)"
    )
    p.add_argument("--port", type=int, default=PORT)
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    from web4ai import eventloop

    if args.serve:
        eventloop.run(serve(args.port))
        return
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.hbpath", "--serve", "--port", str(args.port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    eventloop.run(drive(args, server))


if __name__ == "__main__":
    main()
