"""Scale benchmark: what the operator does with a large unschedulable backlog, and
what heartbeats cost at thousands of nodes.

    make bench-scale     # or: python -m bench.scale --tasks 20000 --nodes 2000
    python -m bench.scale --phases heartbeats --nodes 10000 --quiet 120 --window 600 \
        --task-rate 5 --workers 50        # the acceptance run of "10,000 nodes, 10 minutes"

On one fresh local control plane, per system (``--baseline PATH`` runs the operator
and API of another checkout first, e.g. ``git archive 7753bbe``, back to back):

  * backlog: ``--backlog-nodes`` nodes without the capability ``gpu`` and ``--tasks``
    pending tasks (1 KiB inputs) that need it. The operator starts, settles
    ``--settle`` s, then for ``--window`` s its CPU share and the task writes (watch
    events) are measured: nothing can be scheduled, so ideally both are near zero.
    Then a node with ``gpu`` and ``--drain`` slots registers: reported is the time
    to its first binding and the bindings per second until its slots are full.
  * heartbeats: the API and the operator run, with the default rate limits; node
    simulators (``bench.nodesim``, ``--sim-procs`` processes of their own, keep-alive
    connections) register ``--nodes`` nodes, each heartbeating at the interval the API
    tells it (``min_heartbeat_interval`` respected); the ``--workers`` first (``--agents``
    slots each, a node key each) also long-poll for tasks and finish them with the
    instant protocol. Once every node registered and beat once, and ``--settle`` s
    more (at least two intervals: a Lease renewal is held for 2.5 intervals after
    registering, ``web4ai.core.renewals``), two windows: ``--quiet``
    s of heartbeats alone, then ``--window`` s while a driver submits ``--task-rate``
    runnable no-op tasks a second (``test_task``, only the workers fit). Reported per
    window: heartbeats/s, p50/p99, refusals by status, CPU milliseconds per heartbeat and
    % of a core of the API, the operator, kube-apiserver, etcd and the simulators; the
    tasks' bind p50/p99 (created -> assigned, the task's own timestamps) in all and per
    minute, tasks completed, the CPU per completed task of each process (the loaded
    window's CPU less its heartbeats at the quiet window's cost per heartbeat); RSS of
    the four processes, etcd's database size; the nodes that went offline though they
    beat (a watch of the nodes, sampled every ~10 s too), at any time and in the windows.
  * retained (``--phases retained``, ``bench.retained``): ``--retained`` tasks (1 KiB
    inputs, most finished) retained: RSS of every process, reads, cold start, failover.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil
from kubernetes_asyncio import client

from bench import costs, nodesim
from bench.common import (
    bounded,
    cpu_seconds,
    create_node,
    create_orchestrator,
    percentile,
    profiled,
)
from bench.operator_start import start_operator, stop, synced
from devtools.localcluster.controlplane import ControlPlane, die_with_parent
from devtools.localcluster.ports import free_port
from web4ai.core.bodies import format_time
from web4ai.core.ids import IdKind, identity
from web4ai.core.resources import GROUP, NODES, TASKS, VERSION
from web4ai.k8s import crds as crds_mod
from web4ai.k8s.client import api_client
from web4ai.k8s.listwatch import Gone, watch_events

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
    per_s: float  # heartbeats delivered per second (the window with tasks)
    p50_ms: float  # heartbeat latency in the window with tasks
    p99_ms: float
    refused: int  # heartbeat answers other than 200 (both windows)
    api_cpu_ms: float  # API CPU per heartbeat, the window without tasks
    operator_cpu_ms: float  # operator CPU per heartbeat, the window without tasks
    api_rss_mib: float
    operator_rss_mib: float
    false_offline: int  # nodes that went offline though they beat, at any time
    workers: int = 0
    registered_s: float = 0.0  # all nodes registered after
    false_offline_in_window: int = 0  # of them, from the first window's start on
    offline_before_window: int = 0  # while registering and warming up
    offline_max_sampled: int = 0  # most nodes offline at one sample (every ~10 s)
    warmup_codes: dict[str, int] = field(default_factory=dict)
    refused_by_status: dict[str, int] = field(default_factory=dict)
    quiet: dict[str, Any] = field(default_factory=dict)  # window without tasks
    loaded: dict[str, Any] = field(default_factory=dict)  # window with the task stream
    tasks: dict[str, Any] = field(default_factory=dict)
    rss_mib: dict[str, float] = field(default_factory=dict)  # per process, at the end
    etcd_db: dict[str, float] = field(default_factory=dict)
    operator_started_at: float = 0.0  # wall clock (to place the slow heartbeats)

    def row(self) -> str:
        head = (
            f"{self.system:14s} {self.nodes} nodes told {self.interval_s:g}s: "
            f"{self.per_s:6.1f} heartbeats/s, p50 {self.p50_ms:5.1f} ms p99 "
            f"{self.p99_ms:6.1f} ms, {self.refused} refused; CPU/heartbeat API "
            f"{self.api_cpu_ms:4.2f} ms operator {self.operator_cpu_ms:4.2f} ms; RSS API "
            f"{self.api_rss_mib:4.0f} MiB operator {self.operator_rss_mib:4.0f} MiB; "
            f"false offline {self.false_offline}"
        )
        if not self.loaded:
            return head
        cpu = self.loaded["cpu_ms_per_heartbeat"]
        t = self.tasks
        bind = (
            f"bind p50 {t['p50_s'] * 1000:.0f} ms p99 {t['p99_s'] * 1000:.0f} ms "
            f"(worst minute p50 {t['worst_minute_p50_s'] * 1000:.0f} ms)"
            if t.get("bound")
            else "nothing bound"
        )
        return (
            f"{head}\n{'':14s} with {t['rate']:g} tasks/s: {t['completed']}/{t['submitted']} "
            f"completed, {bind}; CPU/heartbeat API {cpu['api']:.2f} ms operator "
            f"{cpu['operator']:.2f} ms kube-apiserver {cpu.get('kube-apiserver', 0):.2f} ms "
            f"etcd {cpu.get('etcd', 0):.2f} ms; CPU/task "
            + " ".join(f"{k} {v:.1f}" for k, v in t["cpu_ms_per_task"].items())
            + f" ms; RSS {' '.join(f'{k} {v:.0f}' for k, v in self.rss_mib.items())} MiB; "
            f"etcd db {self.etcd_db.get('etcd_mvcc_db_total_size_in_bytes', 0) / 2**20:.0f} MiB"
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


async def raw_watch(
    api: client.ApiClient, ns: str, plural: str, rv: str, **options: Any
) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """Each ``(type, object)`` of a raw watch of ``plural`` from ``rv``, parsed once
    (``web4ai.k8s.listwatch.watch_events``: an expired version raises ``Gone``)."""
    response = await client.CustomObjectsApi(api).list_namespaced_custom_object(
        GROUP,
        VERSION,
        ns,
        plural,
        watch=True,
        resource_version=rv,
        _preload_content=False,
        **options,
    )
    async with aclosing(watch_events(response)) as events:
        async for kind, obj in events:
            yield kind, obj


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
            try:
                async for kind, obj in raw_watch(api, ns, TASKS.plural, rv, timeout_seconds=600):
                    rv = obj.get("metadata", {}).get("resourceVersion", rv)
                    if kind == "MODIFIED":
                        self.note(obj)
            except (Gone, client.exceptions.ApiException):  # expired: on from now
                listed = await co.list_namespaced_custom_object(
                    GROUP, VERSION, ns, TASKS.plural, limit=1
                )
                rv = listed["metadata"]["resourceVersion"]

    def note(self, obj: dict[str, Any]) -> None:
        self.events += 1
        name = obj["metadata"]["name"]
        conditions = (obj.get("status") or {}).get("conditions") or []
        if any(c.get("type") == "Scheduled" for c in conditions):
            self.explained.add(name)
        if (obj.get("status") or {}).get("phase") == "assigned":
            self.bound_at.setdefault(name, time.monotonic())


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


def start_spies(
    out: Path | None, system: str, pids: dict[str, list[int]], seconds: float
) -> list[subprocess.Popen[bytes]]:
    """py-spy recording the API and the operator for ``seconds`` (none without ``out``)."""
    if out is None:
        return []
    os.makedirs(out, exist_ok=True)
    spy = Path(sys.executable).with_name("py-spy")
    return [
        subprocess.Popen(
            [
                str(spy),
                "record",
                "--pid",
                str(pids[name][0]),
                "--duration",
                str(int(seconds)),
                "--rate",
                "50",
                "--format",
                "raw",
                "--output",
                str(out / f"{system}-{name}.txt"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name in ("api", "operator")
    ]


def start_api(
    kubeconfig: str,
    ns: str,
    repo: Path,
    port: int,
    key: str,
    cprofile: Path | None = None,
    log: Path | None = None,
) -> subprocess.Popen[bytes]:
    """The API (its log to ``log``, when given)."""
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
        stderr=subprocess.DEVNULL if log is None else open(log, "ab"),
        env=profiled(
            {"PYTHONPATH": str(repo), "PATH": "/usr/bin:/bin", "WEB4AI_API_KEY": key},
            cprofile,
            "api",
        ),
        cwd=repo,  # `python -m` puts the working directory first on sys.path
        preexec_fn=die_with_parent,
    )


def start_simulators(
    url: str, key: str, worker_keys: dict[str, str], args: argparse.Namespace
) -> list[subprocess.Popen[str]]:
    """``--sim-procs`` node simulators (bench.nodesim), the nodes split between them;
    the workers are in the first."""
    procs = max(1, args.sim_procs)
    sizes = [args.nodes // procs + (1 if i < args.nodes % procs else 0) for i in range(procs)]
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "SIM_KEY": key,
        "SIM_WORKER_KEYS": json.dumps(worker_keys),
    }
    out, first = [], 0
    for size in sizes:
        out.append(
            subprocess.Popen(
                [
                    *(sys.executable, "-m", "bench.nodesim", url),
                    *("--nodes", str(size), "--first", str(first)),
                    *("--workers", str(args.workers), "--agents", str(args.agents)),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env=env,
                preexec_fn=die_with_parent,
            )
        )
        first += size
    return out


async def read_line(proc: subprocess.Popen[str]) -> dict[str, Any]:
    assert proc.stdout is not None
    line = await asyncio.to_thread(proc.stdout.readline)
    if not line.strip():
        raise RuntimeError(f"a simulator ended (exit {proc.poll()})")
    return json.loads(line)  # type: ignore[no-any-return]


async def mark(sims: list[subprocess.Popen[str]]) -> dict[str, Any]:
    """The simulators' figures since the last mark, merged."""
    for sim in sims:
        assert sim.stdin is not None
        sim.stdin.write("mark\n")
        sim.stdin.flush()
    return nodesim.merge([(await read_line(sim))["segment"] for sim in sims])


class NodeWatch:
    """Every node's status as the cluster has it (a list + watch of the Web4AINodes):
    the nodes that went ``offline`` while ``counting``, and a sample of how many were
    offline every ~10 s (``sample``)."""

    def __init__(self) -> None:
        self.status: dict[str, str] = {}
        self.counting = False
        self.offline: set[str] = set()  # went offline while counting
        self.ever: set[str] = set()  # went offline at any time
        self.samples: list[int] = []

    def note(self, name: str, status: str) -> None:
        self.status[name] = status
        if status == "offline":
            self.ever.add(name)
            if self.counting:
                self.offline.add(name)

    def sample(self) -> None:
        now = [n for n, s in self.status.items() if s == "offline"]
        self.samples.append(len(now))
        if self.counting:
            self.offline.update(now)

    async def run(self, api: client.ApiClient, ns: str) -> None:
        co = client.CustomObjectsApi(api)
        while True:
            listed = await co.list_namespaced_custom_object(GROUP, VERSION, ns, NODES.plural)
            for n in listed["items"]:
                self.note(n["metadata"]["name"], (n.get("status") or {}).get("status", ""))
            rv = listed["metadata"]["resourceVersion"]
            try:
                while True:
                    async for kind, obj in raw_watch(
                        api, ns, NODES.plural, rv, timeout_seconds=300, allow_watch_bookmarks=True
                    ):
                        rv = obj.get("metadata", {}).get("resourceVersion", rv)
                        if kind in ("ADDED", "MODIFIED"):
                            status = (obj.get("status") or {}).get("status", "")
                            self.note(obj["metadata"]["name"], status)
            except (Gone, client.exceptions.ApiException):
                continue  # expired: list again


def plane_processes() -> dict[str, psutil.Process]:
    """kube-apiserver and etcd of the local control plane (children of this process)."""
    out = {}
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if child.name() in ("kube-apiserver", "etcd"):
                out[child.name()] = child
    return out


ETCD_DB = ("etcd_mvcc_db_total_size_in_bytes", "etcd_mvcc_db_total_size_in_use_in_bytes")


def etcd_db_bytes(etcd: psutil.Process) -> dict[str, float]:
    """etcd's database size, total and in use, from its /metrics."""
    url = next(a.split("=", 1)[1] for a in etcd.cmdline() if a.startswith("--listen-client-urls="))
    out: dict[str, float] = {}
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            name, _, value = line.partition(" ")
            if name in ETCD_DB:
                out[name] = float(value)
    return out


async def api_ready(url: str, key: str, within: float) -> None:
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as http:
        while True:
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"{url}/health") as r:
                    if r.status == 200:
                        return
            if time.monotonic() > deadline:
                raise TimeoutError("the API never answered /health")
            await asyncio.sleep(0.5)


async def node_keys(url: str, key: str, workers: int) -> dict[str, str]:
    """A node key of its own for each worker (POST /keys): their task calls count
    against their own key's budget, as in a real network."""
    out = {}
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as http:
        for i in range(workers):
            node = f"simw-{i}"
            body = {"role": "node", "node_id": node, "description": "bench.scale worker"}
            async with http.post(f"{url}/keys", json=body) as r:
                if r.status != 200:
                    raise RuntimeError(f"POST /keys: {r.status} {await r.text()}")
                out[node] = (await r.json())["api_key"]
    return out


def cpu_now(procs: dict[str, list[int]]) -> dict[str, float]:
    return {name: sum(cpu_seconds(pid) for pid in pids) for name, pids in procs.items()}


async def watch_offline(nodes: NodeWatch, seconds: float) -> None:
    """Sleep ``seconds``, sampling the offline nodes every ~10 s."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        await asyncio.sleep(min(10.0, left))
        nodes.sample()


def window_figures(
    seg: dict[str, Any], cpu0: dict[str, float], cpu1: dict[str, float], seconds: float
) -> dict[str, Any]:
    """A window's heartbeats and the CPU each process spent in it: ms per heartbeat and
    % of one core."""
    beats = seg["beats_ms"]
    n = max(1, len(beats))
    return {
        "seconds": seconds,
        "heartbeats": len(beats),
        "per_s": len(beats) / seconds,
        "p50_ms": percentile(beats, 0.5) if beats else 0.0,
        "p99_ms": percentile(beats, 0.99) if beats else 0.0,
        "codes": seg["beat_codes"],
        "slow": sorted(seg["slow"]),  # (wall clock sent, ms) of those over nodesim.SLOW_MS
        "cpu_ms_per_heartbeat": {k: 1000 * (cpu1[k] - cpu0[k]) / n for k in cpu0},
        "cpu_percent": {k: 100 * (cpu1[k] - cpu0[k]) / seconds for k in cpu0},
    }


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
    # the default rate limits (security.max_requests_per_minute: 6000 per key): the
    # nodes that only heartbeat share one key, each worker has a node key of its own
    await create_orchestrator(api, ns, {"network": {"maxNodes": 1_000_000}})
    key = "w4a_bench_" + os.urandom(12).hex()
    port, live = free_port(), free_port()
    out = args.cprofile / system if args.cprofile else None
    if out is not None:
        os.makedirs(out, exist_ok=True)
    log = args.logs / f"{system}-api.log" if args.logs else None
    if log is not None:
        os.makedirs(log.parent, exist_ok=True)
    server = start_api(kubeconfig, ns, repo, port, key, out, log)
    operator = start_operator(kubeconfig, ns, repo, live, out)
    operator_started = time.time()
    url = f"http://127.0.0.1:{port}/api/v1"
    sims: list[subprocess.Popen[str]] = []
    nodes = NodeWatch()
    watcher = asyncio.create_task(nodes.run(api, ns))
    stop_driver = asyncio.Event()
    try:
        deadline = time.monotonic() + args.timeout
        while not synced(live):
            if time.monotonic() > deadline:
                raise TimeoutError("the operator never synced")
            await asyncio.sleep(0.5)
        await api_ready(url, key, args.timeout)
        worker_keys = await node_keys(url, key, args.workers)
        sims = start_simulators(url, key, worker_keys, args)
        readies = [await read_line(sim) for sim in sims]
        registered = max(r["registered_s"] for r in readies)
        print(f"  {system}: {args.nodes} nodes registered in {registered:.0f}s", flush=True)
        plane = plane_processes()
        pids = {
            "api": [server.pid],
            "operator": [operator.pid],
            **{name: [p.pid] for name, p in plane.items()},
            "simulators": [s.pid for s in sims],
        }
        # what registering left behind settles, and the Leases reach their steady pace:
        # a heartbeat within 2.5 intervals of its Lease's renewal is held and written
        # later (web4ai.core.renewals), so the first 2.5 intervals after registering
        # write no renewal at all and would flatter the quiet window
        interval = max(float(r.get("interval", 0)) for r in readies)
        await watch_offline(nodes, max(args.settle, 2 * interval))
        offline_before = len(nodes.ever)  # while registering, warming up and settling
        nodes.counting = True
        nodes.sample()
        await mark(sims)  # from here on
        cpu0, t0 = cpu_now(pids), time.monotonic()
        spies = start_spies(args.pyspy, system, pids, args.quiet)
        await watch_offline(nodes, args.quiet)
        for spy in spies:
            spy.wait()
        quiet_seg = await mark(sims)
        cpu1, t1 = cpu_now(pids), time.monotonic()
        driver = nodesim.Driver(url, key, args.task_rate)
        driving = asyncio.create_task(driver.run(stop_driver)) if args.task_rate > 0 else None
        await watch_offline(nodes, args.window)
        stop_driver.set()
        if driving is not None:
            await driving
        loaded_seg = await mark(sims)
        cpu2, t2 = cpu_now(pids), time.monotonic()
        # the last tasks' bindings and results: up to 30 s more
        grace = nodesim.merge([])
        for _ in range(30):
            done = loaded_seg["completed"] + grace["completed"]
            if done >= driver.codes.get("200", 0):
                break
            await watch_offline(nodes, 1.0)
            grace = nodesim.merge([grace, await mark(sims)])
        nodes.sample()
        quiet = window_figures(quiet_seg, cpu0, cpu1, t1 - t0)
        loaded = window_figures(loaded_seg, cpu1, cpu2, t2 - t1)
        binds = loaded_seg["binds"] + grace["binds"]
        completed = loaded_seg["completed"] + grace["completed"]
        per_task: dict[str, float] = {}
        if completed:  # the CPU beyond what the window's heartbeats cost at the quiet rate
            for name in cpu0:
                extra = (cpu2[name] - cpu1[name]) - loaded["heartbeats"] * quiet[
                    "cpu_ms_per_heartbeat"
                ][name] / 1000
                per_task[name] = 1000 * extra / completed
        rss: dict[str, float] = {
            name: psutil.Process(pids[name][0]).memory_info().rss / 2**20
            for name in ("api", "operator", "kube-apiserver", "etcd")
            if name in pids
        }
        refused = {
            code: n
            for seg in (quiet_seg, loaded_seg)
            for code, n in seg["beat_codes"].items()
            if code != "200"
        }
        tasks = {
            "rate": args.task_rate,
            "submitted": driver.submitted,
            "submit_codes": driver.codes,
            "completed": completed,
            "result_codes": nodesim.merge([loaded_seg, grace])["result_codes"],
            "poll_codes": nodesim.merge([loaded_seg, grace])["poll_codes"],
            "delivery_p50_ms": percentile(loaded_seg["delivery_ms"], 0.5)
            if loaded_seg["delivery_ms"]
            else None,
            **nodesim.bind_figures([tuple(b) for b in binds], driver.started),
            "cpu_ms_per_task": per_task,
        }
        db = etcd_db_bytes(plane["etcd"]) if "etcd" in plane else {}
        return Heartbeats(
            system,
            args.nodes,
            max(r["interval"] for r in readies),
            loaded["per_s"],
            loaded["p50_ms"],
            loaded["p99_ms"],
            sum(refused.values()),
            quiet["cpu_ms_per_heartbeat"]["api"],
            quiet["cpu_ms_per_heartbeat"]["operator"],
            rss["api"],
            rss["operator"],
            len(nodes.ever),
            workers=args.workers,
            false_offline_in_window=len(nodes.offline),
            warmup_codes=nodesim.merge_codes([r["codes"] for r in readies]),
            registered_s=registered,
            refused_by_status=refused,
            offline_before_window=offline_before,
            offline_max_sampled=max(nodes.samples),
            quiet=quiet,
            loaded=loaded,
            tasks=tasks,
            rss_mib=rss,
            etcd_db=db,
            operator_started_at=operator_started,
        )
    finally:
        stop_driver.set()
        watcher.cancel()
        for sim in sims:
            sim.kill()
            sim.wait()
        stop(operator)
        stop(server)
        if out is not None:
            for name in ("api", "operator"):
                print(costs.describe_cprofile(name, out / f"{name}.prof"), flush=True)
        await remove_nodes(api, ns, args.concurrency)
        await client.CoreV1Api(api).delete_namespace(ns)


async def remove_nodes(api: client.ApiClient, ns: str, concurrency: int) -> None:
    """Delete the round's nodes (their finalizer lifted: no operator runs now), tasks
    and Leases, so that the next round's kube-apiserver and etcd do not hold them (this
    control plane has no namespace controller: a deleted namespace keeps its objects)."""
    co = client.CustomObjectsApi(api)
    listed = await co.list_namespaced_custom_object(GROUP, VERSION, ns, NODES.plural)
    lift = {"metadata": {"finalizers": None}}

    async def release(name: str) -> None:
        with contextlib.suppress(client.exceptions.ApiException):
            await co.patch_namespaced_custom_object(
                GROUP,
                VERSION,
                ns,
                NODES.plural,
                name,
                lift,
                _content_type="application/merge-patch+json",
            )

    names = [n["metadata"]["name"] for n in listed["items"]]
    await bounded(concurrency, [release(name) for name in names])
    await co.delete_collection_namespaced_custom_object(GROUP, VERSION, ns, NODES.plural)
    await co.delete_collection_namespaced_custom_object(GROUP, VERSION, ns, TASKS.plural)
    await client.CoordinationV1Api(api).delete_collection_namespaced_lease(ns)


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
        if "retained" in args.phases:
            from bench import retained  # it imports this module

            await retained.populate(plane, api, args)
            for system, repo in rounds:
                kept = await retained.retained_round(plane, api, system, repo, args)
                print(kept.row(), flush=True)
                out.setdefault("retained", []).append(asdict(kept))
        await api.close()
    return out


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--tasks", type=int, default=20000)
    p.add_argument("--backlog-nodes", type=int, default=100)
    p.add_argument("--drain", type=int, default=1000, help="slots of the node that fits")
    p.add_argument(
        "--settle",
        type=float,
        default=30.0,
        help="backlog: before the window; heartbeats: before the quiet window (at least two "
        "intervals after the nodes have beaten once, for the Leases' steady pace)",
    )
    p.add_argument(
        "--window", type=float, default=60.0, help="backlog: measured; heartbeats: with tasks"
    )
    p.add_argument("--churn", type=float, default=10.0, help="node status writes/s meanwhile")
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--timeout", type=float, default=900.0)
    p.add_argument("--baseline", type=Path, help="another checkout's operator, run first")
    p.add_argument("--nodes", type=int, default=2000, help="simulated nodes (heartbeats)")
    p.add_argument("--phases", default="backlog,heartbeats", help="and/or retained")
    p.add_argument("--json", help="write the results to this file")
    p.add_argument(
        "--cprofile",
        type=Path,
        help="heartbeats: run the API and the operator under cProfile timed by CPU (their "
        "figures then include the profiler's cost) and print where their CPU went",
    )
    p.add_argument("--logs", type=Path, help="heartbeats: the API's log in DIR/SYSTEM-api.log")
    p.add_argument(
        "--pyspy",
        type=Path,
        help="heartbeats: sample the API and the operator with py-spy through the quiet "
        "window (raw stacks, DIR/SYSTEM-NAME.txt; the figures then include py-spy's pauses)",
    )
    p.add_argument(
        "--quiet", type=float, default=120.0, help="heartbeats: the window without tasks (s)"
    )
    p.add_argument("--task-rate", type=float, default=5.0, help="heartbeats: tasks/s submitted")
    p.add_argument("--workers", type=int, default=50, help="heartbeats: nodes that run tasks")
    p.add_argument("--agents", type=int, default=4, help="heartbeats: slots of a worker")
    p.add_argument("--sim-procs", type=int, default=1, help="heartbeats: simulator processes")
    from bench import retained  # it imports this module

    retained.add_arguments(p)
    args = p.parse_args()
    results = asyncio.run(main_async(args))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
