"""The node simulator of ``bench.scale``'s heartbeat phase, a process of its own, and
the task driver the bench runs beside it.

    python -m bench.nodesim URL --nodes 10000 [--first 0] [--workers 50 --agents 4]

(the bench starts it; the keys come in the environment: ``SIM_KEY`` for the nodes
that only heartbeat, ``SIM_WORKER_KEYS`` a JSON object node id -> node key).

Every node registers (bounded concurrency, keep-alive connections), then heartbeats at
the interval the API tells it (``heartbeat_interval``, never under
``min_heartbeat_interval``), each from the moment it registered, spread over one
interval. The ``--workers`` first nodes (ids ``simw-N``, capability ``sim-work``,
``--agents`` slots each) also run the node protocol for tasks: they long-poll
``GET /nodes/{id}/tasks?wait=20`` and finish each task at once with a result and no
``/start`` (the instant protocol), as the reference node does for instant tasks. The
other nodes are ``sim-N``.

It talks over stdin/stdout: once every node has registered and one interval has
passed it prints ``{"ready": ...}``; each line ``mark`` on stdin makes it print the
figures since the previous mark (or since ready) as one JSON line (``segment``),
``stop`` or the end of stdin ends it. ``merge`` joins the segments of several
simulator processes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.common import percentile

WORK = "sim-work"  # the capability only the workers have: the driver's tasks need it
POLL_WAIT = 20
SLOW_MS = 250.0  # heartbeats slower than this are kept with their time (when they stall)


def told(body: Any) -> float:
    """The pace a register or heartbeat answer tells the node."""
    interval = float(body.get("heartbeat_interval") or 30)
    return max(interval, float(body.get("min_heartbeat_interval") or 0))


@dataclass
class Segment:
    """What happened since the last mark."""

    beats_ms: list[float] = field(default_factory=list)
    beat_codes: dict[str, int] = field(default_factory=dict)
    completed: int = 0
    result_codes: dict[str, int] = field(default_factory=dict)
    poll_codes: dict[str, int] = field(default_factory=dict)
    binds: list[tuple[float, float]] = field(default_factory=list)  # (created_at, bind s)
    delivery_ms: list[float] = field(default_factory=list)  # assigned_at -> seen by the node
    slow: list[tuple[float, float]] = field(default_factory=list)  # (sent at, ms) over SLOW_MS

    def out(self) -> dict[str, Any]:
        return {
            "beats_ms": [round(x, 2) for x in self.beats_ms],
            "beat_codes": self.beat_codes,
            "completed": self.completed,
            "result_codes": self.result_codes,
            "poll_codes": self.poll_codes,
            "binds": [(round(c, 3), round(b, 4)) for c, b in self.binds],
            "delivery_ms": [round(x, 2) for x in self.delivery_ms],
            "slow": [(round(t, 3), round(ms, 1)) for t, ms in self.slow],
        }


def count(codes: dict[str, int], status: int) -> None:
    codes[str(status)] = codes.get(str(status), 0) + 1


@dataclass
class Simulator:
    url: str
    key: str
    worker_keys: dict[str, str]
    nodes: int
    first: int
    workers: int
    agents: int
    concurrency: int = 32
    segment: Segment = field(default_factory=Segment)
    pace: dict[str, float] = field(default_factory=dict)
    handled: set[str] = field(default_factory=set)  # tasks a worker has taken
    registered: asyncio.Event = field(default_factory=asyncio.Event)  # all of them

    def node_ids(self) -> list[str]:
        ids = []
        for i in range(self.first, self.first + self.nodes):
            ids.append(f"simw-{i}" if i < self.workers else f"sim-{i}")
        return ids

    def headers(self, node_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.worker_keys.get(node_id, self.key)}"}

    def registration(self, node_id: str) -> dict[str, Any]:
        if node_id.startswith("simw-"):
            return {
                "host": "127.0.0.1",
                "port": 8090,
                "capabilities": [WORK],
                "agents_count": self.agents,
                "max_concurrent_tasks": self.agents,
            }
        return {"host": "127.0.0.1", "port": 8090, "agents_count": 1}

    async def register(self, http: aiohttp.ClientSession, node_id: str) -> None:
        while True:
            try:
                async with http.post(
                    f"{self.url}/nodes/{node_id}/register",
                    json=self.registration(node_id),
                    headers=self.headers(node_id),
                ) as r:
                    body = await r.json()
                    if r.status == 200:
                        self.pace[node_id] = told(body)
                        if len(self.pace) == self.nodes:
                            self.registered.set()
                        return
            except (aiohttp.ClientError, TimeoutError, ValueError):
                pass
            await asyncio.sleep(1.0)  # e.g. a node key not yet seen by the API: retry

    async def beat(self, http: aiohttp.ClientSession, node_id: str, spread: float) -> None:
        await asyncio.sleep(self.pace[node_id] * spread)
        while True:
            t0 = time.monotonic()
            try:
                async with http.post(
                    f"{self.url}/nodes/{node_id}/heartbeat", json={}, headers=self.headers(node_id)
                ) as r:
                    body = await r.json()
                    status = r.status
            except (aiohttp.ClientError, TimeoutError, ValueError):
                body, status = {}, 0
            took = 1000 * (time.monotonic() - t0)
            self.segment.beats_ms.append(took)
            if took > SLOW_MS:
                self.segment.slow.append((time.time() - took / 1000, took))
            count(self.segment.beat_codes, status)
            if status == 200:
                self.pace[node_id] = told(body)
            await asyncio.sleep(max(0.0, self.pace[node_id] - (time.monotonic() - t0)))

    async def finish(self, http: aiohttp.ClientSession, node_id: str, task: dict[str, Any]) -> None:
        """The instant protocol: the result, no /start."""
        result = {
            "node_id": node_id,
            "agent_id": f"{node_id}-agent-0",
            "status": "completed",
            "result": {"ok": True},
            "execution_time": 0.0,
        }
        for _ in range(5):
            try:
                async with http.post(
                    f"{self.url}/tasks/{task['task_id']}/result",
                    json=result,
                    headers=self.headers(node_id),
                ) as r:
                    await r.read()
                    count(self.segment.result_codes, r.status)
                    if r.status == 200:
                        self.segment.completed += 1
                    if r.status < 500 and r.status != 429:
                        return
            except (aiohttp.ClientError, TimeoutError):
                count(self.segment.result_codes, 0)
            await asyncio.sleep(1.0)

    async def work(self, http: aiohttp.ClientSession, node_id: str) -> None:
        """A worker's long-poll loop."""
        jobs: set[asyncio.Task[None]] = set()
        while True:
            try:
                async with http.get(
                    f"{self.url}/nodes/{node_id}/tasks",
                    params={"wait": str(POLL_WAIT)},
                    headers=self.headers(node_id),
                ) as r:
                    body = await r.json()
                    status = r.status
            except (aiohttp.ClientError, TimeoutError, ValueError):
                body, status = {}, 0
            count(self.segment.poll_codes, status)
            if status != 200:
                await asyncio.sleep(1.0)
                continue
            now, fresh = time.time(), 0
            for task in body.get("tasks") or []:
                if task["task_id"] in self.handled:
                    continue
                fresh += 1
                self.handled.add(task["task_id"])
                created, assigned = task.get("created_at"), task.get("assigned_at")
                if isinstance(created, float | int) and isinstance(assigned, float | int):
                    self.segment.binds.append((float(created), float(assigned) - float(created)))
                    self.segment.delivery_ms.append(1000 * (now - float(assigned)))
                job = asyncio.create_task(self.finish(http, node_id, task))
                jobs.add(job)
                job.add_done_callback(jobs.discard)
            if body.get("tasks") and not fresh:
                # only tasks whose results are on their way: the poll would answer them
                # again at once; wait for a result rather than spin
                if jobs:
                    await asyncio.wait(set(jobs), return_when=asyncio.FIRST_COMPLETED)
                else:
                    await asyncio.sleep(0.05)

    async def run(self) -> None:
        beats = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=64),
            timeout=aiohttp.ClientTimeout(total=60),
        )
        polls = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0),
            timeout=aiohttp.ClientTimeout(total=POLL_WAIT + 40),
        )
        sem = asyncio.Semaphore(self.concurrency)
        golden = 0.6180339887

        async def node(i: int, node_id: str) -> None:
            async with sem:
                await self.register(beats, node_id)
            loops = [self.beat(beats, node_id, (i * golden) % 1.0)]
            if node_id.startswith("simw-"):
                loops.append(self.work(polls, node_id))
            await asyncio.gather(*loops)

        t0 = time.monotonic()
        tasks = [asyncio.create_task(node(i, n)) for i, n in enumerate(self.node_ids())]
        await self.registered.wait()
        registered = time.monotonic() - t0
        interval = max(self.pace.values())
        await asyncio.sleep(interval)  # every node has beaten once at its pace
        warmup, self.segment = self.segment, Segment()
        ready = {
            "ready": True,
            "interval": interval,
            "registered_s": registered,
            "codes": warmup.beat_codes,  # the heartbeats' answers while warming up
        }
        print(json.dumps(ready), flush=True)
        reader = asyncio.StreamReader()
        loop = asyncio.get_running_loop()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while True:
            raw = await reader.readline()
            line = raw.decode().strip()
            if not raw or line == "stop":
                break
            if line == "mark":
                segment, self.segment = self.segment, Segment()
                print(json.dumps({"segment": segment.out(), "pace": max(self.pace.values())}))
                sys.stdout.flush()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await beats.close()
        await polls.close()


def merge_codes(codes: list[dict[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for c in codes:
        for code, n in c.items():
            out[code] = out.get(code, 0) + n
    return out


def merge(segments: list[dict[str, Any]]) -> dict[str, Any]:
    """One segment of several simulator processes' figures."""
    out: dict[str, Any] = {
        "beats_ms": [],
        "beat_codes": {},
        "completed": 0,
        "result_codes": {},
        "poll_codes": {},
        "binds": [],
        "delivery_ms": [],
        "slow": [],
    }
    for s in segments:
        for key in ("beats_ms", "binds", "delivery_ms", "slow"):
            out[key] += s[key]
        out["completed"] += s["completed"]
    for key in ("beat_codes", "result_codes", "poll_codes"):
        out[key] = merge_codes([s[key] for s in segments])
    return out


def bind_figures(binds: list[tuple[float, float]], start: float) -> dict[str, Any]:
    """Bind p50/p99 (created -> assigned, seconds) in all and per minute of creation
    from ``start`` (wall clock): "bound with p50 < 1 s throughout" is the worst minute."""
    if not binds:
        return {"bound": 0, "p50_s": None, "p99_s": None, "worst_minute_p50_s": None}
    minutes: dict[int, list[float]] = {}
    for created, bind in binds:
        minutes.setdefault(int(max(0.0, created - start) // 60), []).append(bind)
    per_minute = {m: percentile(v, 0.5) for m, v in sorted(minutes.items())}
    values = [b for _, b in binds]
    return {
        "bound": len(binds),
        "p50_s": percentile(values, 0.5),
        "p99_s": percentile(values, 0.99),
        "max_s": max(values),
        "per_minute_p50_s": [round(v, 4) for v in per_minute.values()],
        "worst_minute_p50_s": max(per_minute.values()),
    }


@dataclass
class Driver:
    """Submits runnable no-op tasks (``test_task``, needing ``sim-work``) at a steady
    rate until stopped; counts the answers by status."""

    url: str
    key: str
    rate: float
    submitted: int = 0
    codes: dict[str, int] = field(default_factory=dict)
    started: float = 0.0  # wall clock of the first submission

    async def run(self, stop: asyncio.Event) -> None:
        headers = {"Authorization": f"Bearer {self.key}"}
        body = {"task_type": "test_task", "requirements": {"capabilities": [WORK]}}
        jobs: set[asyncio.Task[None]] = set()
        async with aiohttp.ClientSession(
            headers=headers, timeout=aiohttp.ClientTimeout(total=60)
        ) as http:

            async def submit() -> None:
                try:
                    async with http.post(f"{self.url}/tasks", json=body) as r:
                        await r.read()
                        count(self.codes, r.status)
                except (aiohttp.ClientError, TimeoutError):
                    count(self.codes, 0)

            self.started = time.time()
            t0 = time.monotonic()
            while not stop.is_set():
                job = asyncio.create_task(submit())
                jobs.add(job)
                job.add_done_callback(jobs.discard)
                self.submitted += 1
                due = t0 + self.submitted / self.rate
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), max(0.0, due - time.monotonic()))
            await asyncio.gather(*jobs)


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("url", help="the API's base URL, e.g. http://127.0.0.1:9000/api/v1")
    p.add_argument("--nodes", type=int, required=True, help="nodes this process simulates")
    p.add_argument("--first", type=int, default=0, help="index of its first node")
    p.add_argument("--workers", type=int, default=0, help="nodes 0..W-1 also run tasks")
    p.add_argument("--agents", type=int, default=4, help="slots of a worker")
    p.add_argument("--concurrency", type=int, default=32, help="registrations at once")
    args = p.parse_args()
    sim = Simulator(
        args.url,
        os.environ["SIM_KEY"],
        json.loads(os.environ.get("SIM_WORKER_KEYS") or "{}"),
        args.nodes,
        args.first,
        args.workers,
        args.agents,
        args.concurrency,
    )
    asyncio.run(sim.run())


if __name__ == "__main__":
    main()
