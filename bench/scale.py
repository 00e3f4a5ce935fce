"""Scale benchmark: what the operator does with a large unschedulable backlog, and
what heartbeats cost at thousands of nodes.

    make bench-scale     # or: python -m bench.scale --tasks 20000 --nodes 2000

On one fresh local control plane, per system (``--baseline PATH`` runs the operator
and API of another checkout first, e.g. ``git archive 7753bbe``, back to back):

  * backlog: ``--backlog-nodes`` nodes without the capability ``gpu`` and ``--tasks``
    pending tasks (1 KiB inputs) that need it. The operator starts, settles
    ``--settle`` s, then for ``--window`` s its CPU share and the task writes (watch
    events) are measured: nothing can be scheduled, so ideally both are near zero.
    Then a node with ``gpu`` and ``--drain`` slots registers: reported is the time
    to its first binding and the bindings per second until its slots are full.
  * heartbeats: the API and the operator run; a node simulator (a process of its
    own, keep-alive connections) registers ``--nodes`` nodes and heartbeats each at
    the interval the API tells it (``min_heartbeat_interval`` respected) for
    ``--window`` s. Reported: heartbeats/s delivered, p50/p99 latency, the CPU
    milliseconds per heartbeat of the API and of the operator, the RSS of both,
    and the nodes that went offline though they beat (false offline).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil
from kubernetes_asyncio import client

from bench.common import bounded, cpu_seconds, create_node, create_orchestrator, percentile
from bench.operator_start import start_operator, stop, synced
from devtools.localcluster.controlplane import ControlPlane, die_with_parent
from devtools.localcluster.ports import free_port
from web4ai.core.bodies import format_time
from web4ai.core.ids import IdKind, identity
from web4ai.core.resources import GROUP, NODES, TASKS, VERSION
from web4ai.k8s import crds as crds_mod
from web4ai.k8s.client import api_client

REPO = Path(__file__).resolve().parents[1]
INPUT = {"blob": "x" * 1000}  # ~1 KiB of input per task


@dataclass
class Backlog:
    system: str
    tasks: int
    nodes: int
    idle_cpu_percent: float  # operator CPU over the window, % of one core
    churn_per_s: float  # node status writes meanwhile that cannot help
    writes_per_min: float  # task writes (watch events) during the window
    rss_mib: float
    first_binding_s: float  # gpu node created -> its first binding
    drain_per_s: float  # bindings per second until its slots were full

    def row(self) -> str:
        return (
            f"{self.system:14s} backlog {self.tasks} tasks, {self.nodes} nodes "
            f"({self.churn_per_s:g} node writes/s): operator idles "
            f"at {self.idle_cpu_percent:5.1f}% CPU, {self.writes_per_min:6.1f} task writes/min, "
            f"RSS {self.rss_mib:5.0f} MiB; a node that fits: first binding "
            f"{self.first_binding_s:5.1f}s, drain {self.drain_per_s:6.1f}/s"
        )


@dataclass
class Heartbeats:
    system: str
    nodes: int
    interval_s: float  # the interval the nodes were told
    per_s: float  # heartbeats delivered per second
    p50_ms: float
    p99_ms: float
    refused: int  # answers other than 200
    api_cpu_ms: float  # API CPU per heartbeat
    operator_cpu_ms: float  # operator CPU per heartbeat
    api_rss_mib: float
    operator_rss_mib: float
    false_offline: int  # nodes shown offline though they beat

    def row(self) -> str:
        return (
            f"{self.system:14s} {self.nodes} nodes told {self.interval_s:g}s: "
            f"{self.per_s:6.1f} heartbeats/s, p50 {self.p50_ms:5.1f} ms p99 "
            f"{self.p99_ms:6.1f} ms, {self.refused} refused; CPU/heartbeat API "
            f"{self.api_cpu_ms:4.2f} ms operator {self.operator_cpu_ms:4.2f} ms; RSS API "
            f"{self.api_rss_mib:4.0f} MiB operator {self.operator_rss_mib:4.0f} MiB; "
            f"false offline {self.false_offline}"
        )


def gpu_task(name: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Web4AITask",
        "metadata": {"name": name, "labels": {"web4ai.io/task-id": name}},
        "spec": {
            "taskId": name,
            "taskType": "noop",
            "submittedAt": format_time(time.time()),
            "inputData": INPUT,
            "requirements": {"capabilities": ["gpu"]},
        },
    }


class TaskEvents:
    """Counts the task watch events from now on, and when each task is first bound."""

    def __init__(self) -> None:
        self.events = 0
        self.bound_at: dict[str, float] = {}
        self.explained: set[str] = set()  # tasks seen with a Scheduled=False condition

    async def run(self, api: client.ApiClient, ns: str) -> None:
        co = client.CustomObjectsApi(api)
        listed = await co.list_namespaced_custom_object(GROUP, VERSION, ns, TASKS.plural, limit=1)
        rv = listed["metadata"]["resourceVersion"]
        while True:
            response = await co.list_namespaced_custom_object(
                GROUP,
                VERSION,
                ns,
                TASKS.plural,
                watch=True,
                resource_version=rv,
                timeout_seconds=600,
                _preload_content=False,
            )
            try:
                async for line in response.content:
                    if not line.strip():
                        continue
                    event = json.loads(line)
                    obj = event.get("object") or {}
                    rv = obj.get("metadata", {}).get("resourceVersion", rv)
                    if event.get("type") != "MODIFIED":
                        continue
                    self.events += 1
                    name = obj["metadata"]["name"]
                    conditions = (obj.get("status") or {}).get("conditions") or []
                    if any(c.get("type") == "Scheduled" for c in conditions):
                        self.explained.add(name)
                    if (obj.get("status") or {}).get("phase") == "assigned":
                        self.bound_at.setdefault(name, time.monotonic())
            finally:
                response.release()


async def churn(
    api: client.ApiClient, ns: str, nodes: int, per_second: float, seconds: float
) -> None:
    """Node status writes that cannot help the backlog (as heartbeats whose load moved),
    ``per_second`` of them for ``seconds``."""
    co, end, i = client.CustomObjectsApi(api), time.monotonic() + seconds, 0
    while time.monotonic() < end:
        if per_second > 0 and nodes:
            name = identity(IdKind.NODE, f"cpu-{i % nodes}").name
            status = {
                "status": {"cpuUsage": float(i * 7 % 60), "lastHeartbeat": format_time(time.time())}
            }
            await co.patch_namespaced_custom_object_status(
                GROUP,
                VERSION,
                ns,
                NODES.plural,
                name,
                status,
                _content_type="application/merge-patch+json",
            )
            i += 1
            await asyncio.sleep(1 / per_second)
        else:
            await asyncio.sleep(min(1.0, max(0.0, end - time.monotonic())))


async def backlog_round(
    api: client.ApiClient, kubeconfig: str, system: str, repo: Path, args: argparse.Namespace
) -> Backlog:
    ns = f"backlog-{system}"
    await client.CoreV1Api(api).create_namespace({"metadata": {"name": ns}})
    co = client.CustomObjectsApi(api)
    for _ in range(100):  # the new namespace's watch cache may still be starting
        try:
            await co.list_namespaced_custom_object(GROUP, VERSION, ns, TASKS.plural)
            break
        except client.exceptions.ApiException:
            await asyncio.sleep(0.1)
    await create_orchestrator(api, ns, {"orchestrator": {"heartbeatInterval": 3600}})
    spec = {"host": "127.0.0.1", "agentsCount": 4, "capabilities": ["cpu"]}
    await bounded(
        args.concurrency,
        [create_node(api, ns, f"cpu-{i}", spec, {}, 3600) for i in range(args.backlog_nodes)],
    )
    t0 = time.monotonic()
    await bounded(
        args.concurrency,
        [
            co.create_namespaced_custom_object(
                GROUP, VERSION, ns, TASKS.plural, gpu_task(f"t-{i:06d}")
            )
            for i in range(args.tasks)
        ],
    )
    print(f"  {system}: {args.tasks} tasks in {time.monotonic() - t0:.0f}s", flush=True)
    port = free_port()
    operator = start_operator(kubeconfig, ns, repo, port)
    events = TaskEvents()
    watcher = asyncio.create_task(events.run(api, ns))
    try:
        deadline = time.monotonic() + args.timeout
        while not synced(port):
            if time.monotonic() > deadline:
                raise TimeoutError("the operator never synced")
            await asyncio.sleep(0.5)
        # every task says once why it waits (one write each, in both systems), then the
        # operator settles; only then is "nothing can help" measured
        for _ in range(int(args.timeout)):
            if len(events.explained) >= args.tasks or time.monotonic() > deadline:
                break
            await asyncio.sleep(1.0)
        explained = len(events.explained)
        print(f"  {system}: {explained} explained after {time.monotonic() - t0:.0f}s", flush=True)
        await asyncio.sleep(args.settle)
        cpu0, writes0, w0 = cpu_seconds(operator.pid), events.events, time.monotonic()
        await churn(api, ns, args.backlog_nodes, args.churn, args.window)
        elapsed = time.monotonic() - w0
        idle = 100 * (cpu_seconds(operator.pid) - cpu0) / elapsed
        writes = (events.events - writes0) * 60 / elapsed
        rss = psutil.Process(operator.pid).memory_info().rss / 2**20
        spec = {"host": "127.0.0.1", "agentsCount": args.drain, "capabilities": ["gpu"]}
        created = time.monotonic()
        await create_node(api, ns, "gpu-0", spec, {}, 3600)
        while len(events.bound_at) < args.drain:
            if time.monotonic() - created > args.timeout:
                raise TimeoutError(f"only {len(events.bound_at)} bound")
            await asyncio.sleep(0.2)
        times = sorted(events.bound_at.values())
        first = times[0] - created
        span = max(times[args.drain - 1] - times[0], 1e-3)
        return Backlog(
            system,
            args.tasks,
            args.backlog_nodes,
            idle,
            args.churn,
            writes,
            rss,
            first,
            (args.drain - 1) / span,
        )
    finally:
        watcher.cancel()
        stop(operator)
        await client.CoreV1Api(api).delete_namespace(ns)


async def simulate(url: str, key: str, nodes: int, seconds: float) -> None:
    """The node simulator (``--simulate URL``): registers ``nodes`` nodes over keep-alive
    connections, heartbeats each at the pace it is told; after one interval of warm-up
    prints ``window`` and, ``seconds`` later, the figures as one JSON line."""
    import aiohttp

    headers = {"Authorization": f"Bearer {key}"}
    connector = aiohttp.TCPConnector(limit=64)
    latencies: list[float] = []
    codes: dict[int, int] = {}
    pace: dict[int, float] = {}
    measuring = False

    def told(body: Any) -> float:
        interval = float(body.get("heartbeat_interval") or 30)
        return max(interval, float(body.get("min_heartbeat_interval") or 0))

    async with aiohttp.ClientSession(connector=connector, headers=headers) as http:
        registration = {"host": "127.0.0.1", "port": 8090, "agents_count": 1}

        async def register(i: int) -> None:
            while True:
                async with http.post(f"{url}/nodes/sim-{i}/register", json=registration) as r:
                    body = await r.json()
                    if r.status == 200:
                        pace[i] = told(body)
                        return
                await asyncio.sleep(1.0)

        await bounded(32, [register(i) for i in range(nodes)])
        interval = max(pace.values())

        async def beat(i: int) -> None:
            await asyncio.sleep(pace[i] * (i % 1000) / 1000)  # spread over one interval
            while True:
                t0 = time.monotonic()
                try:
                    async with http.post(f"{url}/nodes/sim-{i}/heartbeat", json={}) as r:
                        body = await r.json()
                        status = r.status
                except aiohttp.ClientError:
                    body, status = {}, 0
                if measuring:
                    latencies.append(time.monotonic() - t0)
                    codes[status] = codes.get(status, 0) + 1
                if status == 200:
                    pace[i] = told(body)
                await asyncio.sleep(max(0.0, pace[i] - (time.monotonic() - t0)))

        beats = [asyncio.create_task(beat(i)) for i in range(nodes)]
        await asyncio.sleep(interval)
        measuring = True
        print("window", flush=True)
        await asyncio.sleep(seconds)
        measuring = False
        for b in beats:
            b.cancel()
    print(
        json.dumps(
            {
                "interval": interval,
                "count": len(latencies),
                "p50": percentile(latencies, 0.5) if latencies else 0.0,
                "p99": percentile(latencies, 0.99) if latencies else 0.0,
                "refused": sum(n for c, n in codes.items() if c != 200),
            }
        ),
        flush=True,
    )


def start_api(kubeconfig: str, ns: str, repo: Path, port: int, key: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "web4ai.api",
            "--namespace",
            ns,
            "--kubeconfig",
            kubeconfig,
            "--port",
            str(port),
            "--ws-port",
            str(free_port()),
            "--metrics-port",
            "0",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={"PYTHONPATH": str(repo), "PATH": "/usr/bin:/bin", "WEB4AI_API_KEY": key},
        preexec_fn=die_with_parent,
    )


def start_simulator(url: str, key: str, nodes: int, window: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "bench.scale", "--simulate", url, "--key", key),
            *("--nodes", str(nodes), "--window", str(window)),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        preexec_fn=die_with_parent,
    )


async def heartbeat_round(
    api: client.ApiClient, kubeconfig: str, system: str, repo: Path, args: argparse.Namespace
) -> Heartbeats:
    ns = f"beats-{system}"
    await client.CoreV1Api(api).create_namespace({"metadata": {"name": ns}})
    co = client.CustomObjectsApi(api)
    for _ in range(100):
        try:
            await co.list_namespaced_custom_object(GROUP, VERSION, ns, TASKS.plural)
            break
        except client.exceptions.ApiException:
            await asyncio.sleep(0.1)
    # the per-key budget is lifted: the nodes share one key here, as many nodes may
    spec = {
        "network": {"maxNodes": 1_000_000},
        "security": {"maxRequestsPerMinute": 10_000_000},
    }
    await create_orchestrator(api, ns, spec)
    key = "w4a_bench_" + os.urandom(12).hex()
    port, live = free_port(), free_port()
    server = start_api(kubeconfig, ns, repo, port, key)
    operator = start_operator(kubeconfig, ns, repo, live)
    url = f"http://127.0.0.1:{port}/api/v1"
    sim: subprocess.Popen[str] | None = None
    try:
        deadline = time.monotonic() + args.timeout
        while not synced(live):
            if time.monotonic() > deadline:
                raise TimeoutError("the operator never synced")
            await asyncio.sleep(0.5)
        sim = start_simulator(url, key, args.nodes, args.window)
        assert sim.stdout is not None
        line = await asyncio.to_thread(sim.stdout.readline)
        if line.strip() != "window":
            raise RuntimeError(f"the simulator said {line!r}")
        api0, op0 = cpu_seconds(server.pid), cpu_seconds(operator.pid)
        line = await asyncio.to_thread(sim.stdout.readline)
        api1, op1 = cpu_seconds(server.pid), cpu_seconds(operator.pid)
        figures = json.loads(line)
        listed = await co.list_namespaced_custom_object(GROUP, VERSION, ns, NODES.plural)
        offline = sum(
            1 for n in listed["items"] if (n.get("status") or {}).get("status") != "active"
        )
        count = max(1, figures["count"])
        return Heartbeats(
            system,
            args.nodes,
            figures["interval"],
            figures["count"] / args.window,
            1000 * figures["p50"],
            1000 * figures["p99"],
            figures["refused"],
            1000 * (api1 - api0) / count,
            1000 * (op1 - op0) / count,
            psutil.Process(server.pid).memory_info().rss / 2**20,
            psutil.Process(operator.pid).memory_info().rss / 2**20,
            offline,
        )
    finally:
        if sim is not None:
            sim.kill()
            sim.wait()
        stop(operator)
        stop(server)
        await client.CoreV1Api(api).delete_namespace(ns)


async def main_async(args: argparse.Namespace) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {"backlog": [], "heartbeats": []}
    with ControlPlane() as plane:
        api = await api_client(str(plane.kubeconfig))
        await crds_mod.install(api, REPO / "crds")
        rounds: list[tuple[str, Path]] = [("web4ai", REPO)]
        if args.baseline:
            rounds.insert(0, ("web4ai-before", args.baseline))
        for system, repo in rounds if "backlog" in args.phases else []:
            r = await backlog_round(api, str(plane.kubeconfig), system, repo, args)
            print(r.row(), flush=True)
            out["backlog"].append(asdict(r))
        for system, repo in rounds if "heartbeats" in args.phases else []:
            h = await heartbeat_round(api, str(plane.kubeconfig), system, repo, args)
            print(h.row(), flush=True)
            out["heartbeats"].append(asdict(h))
        await api.close()
    return out


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--tasks", type=int, default=20000)
    p.add_argument("--backlog-nodes", type=int, default=100)
    p.add_argument("--drain", type=int, default=1000, help="slots of the node that fits")
    p.add_argument("--settle", type=float, default=30.0)
    p.add_argument("--window", type=float, default=60.0)
    p.add_argument("--churn", type=float, default=10.0, help="node status writes/s meanwhile")
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--timeout", type=float, default=900.0)
    p.add_argument("--baseline", type=Path, help="another checkout's operator, run first")
    p.add_argument("--nodes", type=int, default=2000, help="simulated nodes (heartbeats)")
    p.add_argument("--phases", default="backlog,heartbeats")
    p.add_argument("--json", help="write the results to this file")
    p.add_argument("--simulate", metavar="URL", help=argparse.SUPPRESS)
    p.add_argument("--key", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.simulate:
        asyncio.run(simulate(args.simulate, args.key, args.nodes, args.window))
        return
    results = asyncio.run(main_async(args))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
