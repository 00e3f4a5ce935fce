"""Routing benchmark: model-aware routing + affinity (CHWBL) against the five
algorithms alone, on the real stack (kube-apiserver + etcd, the operator, the API)
with simulated AI nodes speaking the node protocol over HTTP.

    make bench-routing      # or: python -m bench.routing [--rate 40] [--tasks 2000] ...

The workload, as issue 24 sets it: ``--nodes`` 20 nodes with 2 agents each; every
node can serve 4 of the 8 models (node i: models i..i+3 mod 8), and each agent holds
one model loaded at a time (at the start, node i's agents hold models i and i+1). A
task whose agent holds its model takes 50 ms (warm); otherwise the agent loads it
first, 2 s more (cold), and then holds it instead of its old one. A node runs a task
on a free agent holding its model when it has one, else on its least recently used
free agent, and reports its agents' loaded models in a heartbeat at every swap (and
every 5 s).

``--tasks`` 2,000 tasks over the 8 models with a Zipf mix (s = ``--zipf``) arrive
open-loop at ``--rate`` tasks/s; meanwhile ``--conversations`` 200 conversations of
``--turns`` 5 turns each (a Zipf-drawn model, ``affinity_key`` the conversation id)
start at random times within the same span, each turn submitted ``--think`` 1 s
(a user reading the answer) after the previous one completed. Completion is seen
on the WebSocket (``task_completed``).

Each run gets a fresh namespace, operator and API on one control plane; the runs:
each of the five algorithms alone (``network.model_aware_routing: false``) and
model-aware routing + CHWBL (the default, ties broken by weighted round robin).
Reported per run: cold loads, affinity hits (the share of turns run on their
conversation's most used node), completion p50/p99 (submit -> completed), tasks/s
(all tasks over first submit -> last completion), the largest number of tasks any
node held at once, and how often a keyed task started on a node already holding its
bounded load of keyed tasks (``ceil((1 + eps) x keyed tasks running / nodes)``, the
nodes being of equal capacity; as the nodes see it) with the most a node held.
``--why`` prints each run's Scheduled messages counted by cold or warm and by kind of
task (t: independent, conv0: a conversation's first turn, c: its later turns), and
the heartbeats refused.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import re
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import websockets
from kubernetes_asyncio import client

from bench.common import percentile
from devtools.localcluster.controlplane import ControlPlane, die_with_parent
from devtools.localcluster.ports import free_port
from web4ai.k8s import crds as crds_mod
from web4ai.k8s.client import api_client

REPO = Path(__file__).resolve().parents[1]
KEY = "bench-admin-key"
MODELS = [f"model-{i}" for i in range(8)]
WARM, COLD = 0.05, 2.0
HEARTBEAT = 2  # seconds, the orchestrator's heartbeat_interval in the bench
AGENTS = 2
SERVED = 4
ALGORITHMS = [
    "round_robin",
    "weighted_round_robin",
    "least_connections",
    "resource_aware",
    "latency_optimized",
]
MODEL_AWARE = "model_aware+chwbl"
EPSILON = 0.25  # network.affinity_epsilon, the default


@dataclass
class Agent:
    agent_id: str
    loaded: str
    busy: bool = False
    used_at: float = 0.0


@dataclass
class Stats:
    cold: int = 0
    warm: int = 0
    ran_on: dict[str, str] = field(default_factory=dict)  # task id -> node id
    cold_ids: set[str] = field(default_factory=set)
    refused: Counter[str] = field(default_factory=Counter)  # heartbeat kind -> failures
    nodes: int = 1
    keyed: Counter[str] = field(default_factory=Counter)  # node id -> keyed tasks running
    over_bound: int = 0  # keyed starts that put a node over its bounded load
    keyed_peak: int = 0  # most keyed tasks on one node at once

    def keyed_start(self, node_id: str) -> None:
        """A task with an affinity key starts on ``node_id``: is the node within its
        bounded load, ceil((1 + eps) x its share of the keyed tasks running)?"""
        self.keyed[node_id] += 1
        total = sum(self.keyed.values())
        bound = math.ceil((1 + EPSILON) * total / self.nodes)  # nodes of equal capacity
        self.keyed_peak = max(self.keyed_peak, self.keyed[node_id])
        self.over_bound += self.keyed[node_id] > bound

    peak: Counter[str] = field(default_factory=Counter)  # node id -> most tasks at once


@dataclass
class SimNode:
    """A simulated node: registers, heartbeats, long-polls, runs, reports."""

    index: int
    session: aiohttp.ClientSession
    base: str
    stats: Stats
    agents: list[Agent] = field(init=False)
    running: int = 0
    beat_every: float = HEARTBEAT  # as the orchestrator tells
    jobs: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.served = [MODELS[(self.index + k) % len(MODELS)] for k in range(SERVED)]
        self.agents = [
            Agent(f"{self.node_id}-a{k}", self.served[k % SERVED]) for k in range(AGENTS)
        ]
        self.free = asyncio.Semaphore(AGENTS)

    @property
    def node_id(self) -> str:
        return f"sim-{self.index:02d}"

    def models(self) -> list[dict[str, Any]]:
        return [
            {"agent_id": a.agent_id, "specialized_models": self.served, "loaded_models": [a.loaded]}
            for a in self.agents
        ]

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        async with self.session.request(method, f"{self.base}{path}", json=body) as r:
            data = await r.json()
            if r.status >= 400:
                raise RuntimeError(f"{method} {path}: {r.status} {data}")
            return data

    async def register(self) -> None:
        answer = await self.call(
            "POST",
            f"/nodes/{self.node_id}/register",
            {
                "host": "127.0.0.1",
                "port": 9000 + self.index,
                "node_type": "sim",
                "capabilities": ["ai_inference"],
                "agents_count": AGENTS,
                "agents": [
                    {**a, "agent_type": "ai_inference", "capabilities": ["ai_inference"]}
                    for a in self.models()
                ],
            },
        )
        self.beat_every = float(answer.get("heartbeat_interval") or HEARTBEAT)

    async def heartbeat(self) -> None:
        await self.call(
            "POST",
            f"/nodes/{self.node_id}/heartbeat",
            {
                "cpu_usage": 10.0 + 30.0 * self.running,
                "memory_usage": 40.0,
                "tasks_running": self.running,
                "network_latency": 1.0 + self.index % 5,
                "agents": self.models(),
            },
        )

    async def heartbeats(self) -> None:
        while True:  # at the pace told: a node's heartbeats have a budget of twice that
            await asyncio.sleep(self.beat_every)
            try:
                await self.heartbeat()
            except Exception:
                self.stats.refused["regular"] += 1

    async def poll(self) -> None:
        seen: set[str] = set()
        while True:
            await self.free.acquire()  # ask for work only with a free agent
            self.free.release()
            try:
                answer = await self.call("GET", f"/nodes/{self.node_id}/tasks?wait=10")
            except Exception:
                await asyncio.sleep(0.2)
                continue
            new = [t for t in answer.get("tasks", []) if t["task_id"] not in seen]
            for task in new:
                seen.add(task["task_id"])
                await self.free.acquire()
                job = asyncio.create_task(self.run(task))
                self.jobs.add(job)
                job.add_done_callback(self.jobs.discard)
            if not new:  # only tasks already running (a warm one is not /start-ed)
                await asyncio.sleep(WARM / 2)

    async def run(self, task: dict[str, Any]) -> None:
        model = (task.get("requirements") or {}).get("model")
        keyed = bool((task.get("requirements") or {}).get("affinity_key"))
        if keyed:
            self.stats.keyed_start(self.node_id)
        self.running += 1
        self.stats.peak[self.node_id] = max(self.stats.peak[self.node_id], self.running)
        free = [a for a in self.agents if not a.busy]
        agent = next((a for a in free if a.loaded == model), None)
        cold = agent is None
        if agent is None:
            agent = min(free, key=lambda a: a.used_at)
        agent.busy = True
        started = time.monotonic()
        try:
            if cold:
                agent.loaded = model or agent.loaded
                self.stats.cold += 1
                self.stats.cold_ids.add(task["task_id"])
                try:
                    await self.heartbeat()  # the swap is news for the scheduler
                except Exception:
                    self.stats.refused["swap"] += 1
                with contextlib.suppress(Exception):  # a long task is started (as a node does)
                    start = {"node_id": self.node_id, "agent_id": agent.agent_id}
                    await self.call("POST", f"/tasks/{task['task_id']}/start", start)
                await asyncio.sleep(COLD + WARM)
            else:
                self.stats.warm += 1
                await asyncio.sleep(WARM)
            self.stats.ran_on[task["task_id"]] = self.node_id
            body = {
                "node_id": self.node_id,
                "agent_id": agent.agent_id,
                "status": "completed",
                "result": {"cold": cold},
                "execution_time": round(time.monotonic() - started, 4),
            }
            for _ in range(5):
                try:
                    await self.call("POST", f"/tasks/{task['task_id']}/result", body)
                    break
                except Exception:
                    await asyncio.sleep(0.2)
        finally:
            if keyed:
                self.stats.keyed[self.node_id] -= 1
            agent.busy, agent.used_at = False, time.monotonic()
            self.running -= 1
            self.free.release()


def zipf_weights(n: int, s: float) -> list[float]:
    raw = [1.0 / (k + 1) ** s for k in range(n)]
    return [w / sum(raw) for w in raw]


@dataclass
class Workload:
    tasks: int
    conversations: int
    turns: int
    rate: float
    zipf: float
    seed: int
    think: float

    def plan(self, nodes: int) -> tuple[list[str], list[tuple[float, str]]]:
        """The independent tasks' models, and each conversation's (start, model): of the
        models some node serves (all 8 from 5 nodes on)."""
        rng = random.Random(self.seed)
        served = MODELS[: min(len(MODELS), nodes + SERVED - 1)]
        weights = zipf_weights(len(served), self.zipf)
        models = rng.choices(served, weights, k=self.tasks)
        span = self.tasks / self.rate
        convs = [
            (rng.uniform(0, 0.8 * span), rng.choices(served, weights)[0])
            for _ in range(self.conversations)
        ]
        return models, convs


async def measure(base: str, ws_url: str, work: Workload, nodes: list[SimNode]) -> dict[str, Any]:
    submitted: dict[str, float] = {}
    completed: dict[str, float] = {}
    finished: dict[str, asyncio.Event] = {}
    total = work.tasks + work.conversations * work.turns
    all_done = asyncio.Event()
    submits: set[asyncio.Task[None]] = set()
    ws = await websockets.connect(
        ws_url, max_size=2**24, additional_headers={"Authorization": f"Bearer {KEY}"}
    )
    await ws.recv()

    async def listen() -> None:
        async for raw in ws:
            msg = json.loads(raw)
            if msg["type"] in ("task_completed", "task_failed"):
                task_id = msg["data"]["task_id"]
                completed.setdefault(task_id, time.perf_counter())
                finished.setdefault(task_id, asyncio.Event()).set()
                if len(completed) >= total:
                    all_done.set()

    listener = asyncio.create_task(listen())
    models, convs = work.plan(len(nodes))
    headers = {"Authorization": f"Bearer {KEY}"}
    async with aiohttp.ClientSession(headers=headers) as session:

        async def submit(task_id: str, model: str, key: str | None = None) -> None:
            req: dict[str, Any] = {"model": model}
            if key is not None:
                req["affinity_key"] = key
            finished.setdefault(task_id, asyncio.Event())
            submitted[task_id] = time.perf_counter()
            body = {"task_id": task_id, "task_type": "ai_inference", "requirements": req}
            async with session.post(f"{base}/tasks", json=body) as r:
                if r.status != 200:
                    raise RuntimeError(f"submit {task_id}: {r.status} {await r.text()}")

        async def independent(start: float) -> None:
            for i, model in enumerate(models):
                await asyncio.sleep(max(0.0, start + i / work.rate - time.perf_counter()))
                job = asyncio.create_task(submit(f"t-{i:05d}", model))
                submits.add(job)
                job.add_done_callback(submits.discard)

        async def conversation(c: int, at: float, model: str, start: float) -> None:
            await asyncio.sleep(max(0.0, start + at - time.perf_counter()))
            for turn in range(work.turns):
                task_id = f"c-{c:03d}-{turn}"
                if turn:
                    await asyncio.sleep(work.think)
                await submit(task_id, model, f"conversation-{c:03d}")
                await finished[task_id].wait()

        start = time.perf_counter()
        await asyncio.gather(
            independent(start),
            *(conversation(c, at, model, start) for c, (at, model) in enumerate(convs)),
        )
        await asyncio.wait_for(all_done.wait(), 1800)
    listener.cancel()
    await ws.close()
    latencies = [completed[t] - submitted[t] for t in submitted]
    stats = nodes[0].stats
    hits = 0
    for c in range(work.conversations):
        ran = Counter(stats.ran_on[f"c-{c:03d}-{t}"] for t in range(work.turns))
        hits += ran.most_common(1)[0][1]
    return {
        "cold_loads": stats.cold,
        "warm": stats.warm,
        "affinity_hits": hits / max(1, work.conversations * work.turns),
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "rate": total / (max(completed.values()) - start),
        "peak_tasks_on_a_node": max(stats.peak.values()),
        "peak_keyed_on_a_node": stats.keyed_peak,
        "over_bound": stats.over_bound,
    }


async def why(plane: ControlPlane, ns: str, stats: Stats) -> None:
    """Diagnostics: the Scheduled message of each task, by cold or warm and kind."""
    api = await api_client(str(plane.kubeconfig))
    co = client.CustomObjectsApi(api)
    items = (await co.list_namespaced_custom_object("web4ai.io", "v1alpha1", ns, "web4aitasks"))[
        "items"
    ]
    await api.close()
    table: Counter[tuple[str, str, str]] = Counter()
    for body in items:
        tid = body["spec"].get("taskId") or body["metadata"]["name"]
        msg = ""
        for c in (body.get("status") or {}).get("conditions") or []:
            if c.get("type") == "Scheduled":
                msg = c.get("message", "")
        msg = re.sub(r"sim-\d+", "N", re.sub(r"assigned to sim-\d+: ?", "", msg))
        msg = re.sub(r"conversation-\d+|model-\d+|\d+", "#", msg)[:70]
        kind = "conv0" if tid.endswith("-0") and tid.startswith("c-") else tid[:1]
        table[("cold" if tid in stats.cold_ids else "warm", kind, msg)] += 1
    for (c, k, m), n in sorted(table.items(), key=lambda x: -x[1]):
        print(f"  {n:5d} {c} {k:5s} {m}")
    print("  refused heartbeats:", dict(stats.refused), flush=True)


def spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "web4ai", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        preexec_fn=die_with_parent,
    )


async def wait_api(base: str) -> None:
    async with aiohttp.ClientSession() as s:
        for _ in range(600):
            with contextlib.suppress(aiohttp.ClientError):
                async with s.get(f"{base}/health") as r:
                    if r.status == 200:
                        return
            await asyncio.sleep(0.2)
    raise RuntimeError("the API did not start")


async def run_once(
    plane: ControlPlane, label: str, run: int, work: Workload, n: int, why_too: bool = False
) -> dict[str, Any]:
    ns = f"routing-{run}"
    api = await api_client(str(plane.kubeconfig))
    await client.CoreV1Api(api).create_namespace({"metadata": {"name": ns}})
    await api.close()
    port, ws_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}/api/v1"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "WEB4AI_API_KEY": KEY,
        "KUBECONFIG": str(plane.kubeconfig),
    }
    procs = [
        spawn(["operator", "--namespace", ns], env),
        spawn(["api", "--namespace", ns, "--port", str(port), "--ws-port", str(ws_port)], env),
    ]
    headers = {"Authorization": f"Bearer {KEY}"}
    try:
        await wait_api(base)
        async with aiohttp.ClientSession(headers=headers) as s:
            network: dict[str, Any] = {"model_aware_routing": label == MODEL_AWARE}
            if label != MODEL_AWARE:
                network["load_balance_algorithm"] = label
            config = {
                "network": network,
                "security": {"max_requests_per_minute": 10_000_000},
                # beats every 2 s: a budget of 1 a second per node, half of it left for
                # the heartbeats that report a swap at once
                "orchestrator": {"heartbeat_interval": HEARTBEAT},
            }
            for _ in range(100):  # the operator creates the orchestrator object first
                async with s.put(f"{base}/config", json=config) as r:
                    if r.status == 200:
                        break
                await asyncio.sleep(0.2)
            stats = Stats(nodes=n)
            nodes = [SimNode(i, s, base, stats) for i in range(n)]
            for node in nodes:
                await node.register()
            jobs = [asyncio.create_task(x.poll()) for x in nodes]
            jobs += [asyncio.create_task(x.heartbeats()) for x in nodes]
            try:
                out = await measure(base, f"ws://127.0.0.1:{ws_port}", work, nodes)
                if why_too:
                    await why(plane, ns, stats)
            finally:
                for job in jobs:
                    job.cancel()
                await asyncio.gather(*jobs, return_exceptions=True)
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in reversed(procs):
            try:
                p.wait(timeout=40)
            except subprocess.TimeoutExpired:
                p.kill()
    print(
        f"[{label:22s}] cold={out['cold_loads']:5d} affinity={out['affinity_hits']:.1%} "
        f"p50={out['p50_ms']:7.0f}ms p99={out['p99_ms']:7.0f}ms rate={out['rate']:6.1f}/s "
        f"peak/node={out['peak_tasks_on_a_node']} keyed peak={out['peak_keyed_on_a_node']} "
        f"over bound={out['over_bound']}",
        flush=True,
    )
    return out


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    work = Workload(
        args.tasks, args.conversations, args.turns, args.rate, args.zipf, args.seed, args.think
    )
    out: dict[str, Any] = {
        "nodes": args.nodes,
        "agents": AGENTS,
        "models": len(MODELS),
        "tasks": args.tasks,
        "conversations": args.conversations,
        "turns": args.turns,
        "rate": args.rate,
        "zipf": args.zipf,
        "think": args.think,
        "runs": {},
    }
    with ControlPlane() as plane:
        api = await api_client(str(plane.kubeconfig))
        await crds_mod.install(api, REPO / "crds")
        await api.close()
        for run, label in enumerate(args.only):
            out["runs"][label] = await run_once(plane, label, run, work, args.nodes, args.why)
    return out


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--nodes", type=int, default=20)
    p.add_argument("--tasks", type=int, default=2000)
    p.add_argument("--conversations", type=int, default=200)
    p.add_argument("--turns", type=int, default=5)
    p.add_argument("--rate", type=float, default=40.0, help="independent tasks per second")
    p.add_argument("--zipf", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=24)
    p.add_argument("--think", type=float, default=1.0, help="seconds between two turns")
    p.add_argument("--only", nargs="+", default=[*ALGORITHMS, MODEL_AWARE])
    p.add_argument("--json", help="write the figures to this file")
    p.add_argument(
        "--why", action="store_true", help="print each run's Scheduled messages, cold or warm"
    )
    args = p.parse_args()
    out = asyncio.run(main_async(args))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
