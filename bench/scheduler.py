"""Scheduler benchmark: our operator vs kube-scheduler on the same API server.

    make bench-scheduler            # or: python -m bench.scheduler --tasks 1000 --nodes 50 500

For each node count N, on one fresh local control plane:
  * ours: N Web4AINode objects (with Leases), the operator running (a warm-up
    task bound first, so it is synced and leading), then
    ``--tasks`` Web4AITask objects created with bounded concurrency; a watch
    records when each task is seen bound and how many writes it took.
  * kube-scheduler: N v1 Node objects and ``--tasks`` Pods, same concurrency.
Reports tasks bound per second (first create -> last bound), p50/p99 of
create -> bound, API writes per task up to binding, and our rate as a ratio
to kube-scheduler's. Medians of ``--repeat`` runs when repeat > 1.

Backlog mode (``--mode backlog``, as kube-scheduler's scheduler_perf): ``--backlog``
tasks (default 5,000) exist before scheduling starts. Ours: the orchestrator is
created paused (``spec.paused: true``, i.e. control/stop) and released once every
task is in the operator's cache; kube-scheduler: the pods exist before it starts.
Reported: bind throughput (first bound -> last bound), p50/p99 of the time from the
first binding to each task's binding, and, in the same run, the *physical limit*:
a bare loop making the same resourceVersion-guarded status merge patches (the bind
patch) with the same concurrency on the same objects, with the operator stopped.

    python -m bench.scheduler --mode backlog --backlog 5000 --nodes 50
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client, watch

from bench.common import (
    bounded,
    cpu_seconds,
    create_node,
    create_orchestrator,
    percentile,
    task_body,
)
from devtools.localcluster.binaries import binary
from devtools.localcluster.controlplane import ControlPlane, die_with_parent
from web4ai.core import patches
from web4ai.core.bodies import format_time
from web4ai.core.resources import GROUP, TASKS, VERSION
from web4ai.k8s import crds as crds_mod
from web4ai.k8s.client import api_client
from web4ai.k8s.writing import Writer
from web4ai.operator.scheduler import Scheduler

REPO = Path(__file__).resolve().parents[1]
MERGE = "application/merge-patch+json"
KUBE_QPS = 1000


@dataclass
class Result:
    system: str
    nodes: int
    tasks: int
    per_second: float
    p50_ms: float
    p99_ms: float
    writes_per_task: float
    mode: str = "streaming"
    # the scheduler process's CPU (user + system) per task while the tasks came in;
    # steadier on a noisy machine than the latencies (streaming mode)
    cpu_ms_per_task: float | None = None
    # how fast the bench's creates went meanwhile (streaming): they share the API server
    # with the bindings, so a faster stream of creates means a longer queue to bind
    created_per_second: float | None = None

    def row(self) -> str:
        cpu = "" if self.cpu_ms_per_task is None else f" cpu/task={self.cpu_ms_per_task:.2f}ms"
        if self.created_per_second is not None:
            cpu += f" creates={self.created_per_second:.0f}/s"
        return (
            f"{self.mode:9s} {self.system:15s} nodes={self.nodes:4d} tasks={self.tasks:5d} "
            f"rate={self.per_second:8.1f}/s p50={self.p50_ms:8.1f}ms "
            f"p99={self.p99_ms:8.1f}ms writes/task={self.writes_per_task:.2f}{cpu}"
        )


async def create_namespace(api: client.ApiClient, name: str) -> None:
    await client.CoreV1Api(api).create_namespace({"metadata": {"name": name}})
    # the watch cache of a new resource may still be starting: wait until a list works
    for _ in range(100):
        try:
            await client.CustomObjectsApi(api).list_namespaced_custom_object(
                GROUP, VERSION, name, TASKS.plural
            )
            return
        except client.exceptions.ApiException:
            await asyncio.sleep(0.1)


class Recorder:
    """Watches a collection and records, per object, writes until bound and bound time."""

    def __init__(self, is_bound: Any) -> None:
        self.is_bound = is_bound
        self.versions: dict[str, int] = {}
        self.bound_at: dict[str, float] = {}
        self.ready = asyncio.Event()
        self.done = asyncio.Event()
        self.expected = 0

    async def run(self, list_fn: Any, *args: Any) -> None:
        rv = (await list_fn(*args))["metadata"]["resourceVersion"]
        self.ready.set()
        while True:
            w = watch.Watch()
            try:
                async for ev in w.stream(list_fn, *args, resource_version=rv, timeout_seconds=600):
                    obj = ev["object"]
                    raw = obj if isinstance(obj, dict) else ev["raw_object"]
                    rv = raw["metadata"]["resourceVersion"]
                    name = raw["metadata"]["name"]
                    if name in self.bound_at:
                        continue
                    self.versions[name] = self.versions.get(name, 0) + 1
                    if self.is_bound(raw):
                        self.bound_at[name] = time.monotonic()
                        if len(self.bound_at) >= self.expected:
                            self.done.set()
            except client.exceptions.ApiException:
                await asyncio.sleep(0.1)
            finally:
                await w.close()


WARM_UP = "warm-up"


async def warm_up(create: Any, rec: Recorder) -> None:
    """Create one object and wait until it is bound: the scheduler is up, synced and
    leading before the stream starts (a fixed sleep measured start-up as well when a
    start was slow). The stream's figures leave it out."""
    rec.expected += 1
    await create(WARM_UP)
    deadline = time.monotonic() + 120
    while WARM_UP not in rec.bound_at:
        if time.monotonic() > deadline:
            raise TimeoutError("the scheduler bound nothing within 120 s")
        await asyncio.sleep(0.05)


def summarize(system: str, nodes: int, created: dict[str, float], rec: Recorder) -> Result:
    lat = [(rec.bound_at[n] - created[n]) * 1000 for n in created]
    span = max(rec.bound_at.values()) - min(created.values())
    writes = [rec.versions[n] - 1 for n in created]  # first version is the create
    creating = max(created.values()) - min(created.values())
    return Result(
        system,
        nodes,
        len(created),
        len(created) / span,
        statistics.median(lat),
        percentile(lat, 0.99),
        statistics.mean(writes),
        created_per_second=len(created) / creating if creating > 0 else None,
    )


def summarize_backlog(system: str, nodes: int, names: list[str], rec: Recorder) -> Result:
    """Throughput from the first binding to the last; latency from the first binding
    (the moment scheduling demonstrably started) to each task's binding. The versions
    seen before the watch started are not counted: writes/task is from the first
    version the watch saw (the create, for tasks created after it started)."""
    first = min(rec.bound_at[n] for n in names)
    last = max(rec.bound_at[n] for n in names)
    lat = [(rec.bound_at[n] - first) * 1000 for n in names]
    writes = [rec.versions[n] - 1 for n in names]
    return Result(
        system,
        nodes,
        len(names),
        (len(names) - 1) / max(last - first, 1e-9),
        statistics.median(lat),
        percentile(lat, 0.99),
        statistics.mean(writes),
        mode="backlog",
    )


async def setup_ours(
    api: client.ApiClient, ns: str, nodes: int, tasks: int, concurrency: int, paused: bool
) -> None:
    await create_namespace(api, ns)
    spec: dict[str, Any] = {"network": {"loadBalanceAlgorithm": "least_connections"}}
    if paused:
        spec["paused"] = True
    await create_orchestrator(api, ns, spec)
    agents = max(1, -(-2 * tasks // nodes))

    async def add_node(i: int) -> None:
        await create_node(
            api,
            ns,
            f"node-{i}",
            {"host": "127.0.0.1", "agentsCount": agents},
            {},
            lease_seconds=3600,
        )

    await bounded(concurrency, [add_node(i) for i in range(nodes)])


IN_FLIGHT: int | None = None  # --in-flight: the operator's bind concurrency, and the bare loop's
RATE: float | None = None  # --rate: streaming creates per second (None: as fast as they go)


async def paced(i: int, start: float) -> None:
    """With --rate, wait for the i-th create's turn (open-loop arrivals: the creates no
    longer race the bindings for the API server, so p50 is the scheduler's latency
    rather than the length of the queue the creates build)."""
    if RATE:
        await asyncio.sleep(max(0.0, start + i / RATE - time.monotonic()))


async def start_operator(kubeconfig: str, ns: str, repo: Path = REPO) -> asyncio.subprocess.Process:
    extra = [] if IN_FLIGHT is None or repo != REPO else [f"--bind-in-flight={IN_FLIGHT}"]
    return await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "web4ai.operator", "--namespace", ns, "--kubeconfig", kubeconfig],
        *extra,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={"PYTHONPATH": str(repo), "PATH": "/usr/bin:/bin"},
        cwd=repo,  # `python -m` puts the working directory first on sys.path
        preexec_fn=die_with_parent,
    )


def is_assigned(raw: dict[str, Any]) -> bool:
    return (raw.get("status") or {}).get("phase") == "assigned"


async def bench_ours(
    api: client.ApiClient,
    kubeconfig: str,
    nodes: int,
    tasks: int,
    concurrency: int,
    run: int,
    system: str = "web4ai",
    repo: Path = REPO,
) -> Result:
    ns = f"{system}-{nodes}-{run}"
    co = client.CustomObjectsApi(api)
    await setup_ours(api, ns, nodes, tasks, concurrency, paused=False)
    started = time.monotonic()
    op = await start_operator(kubeconfig, ns, repo)
    rec = Recorder(is_assigned)
    rec.expected = tasks
    watcher = asyncio.create_task(
        rec.run(co.list_namespaced_custom_object, GROUP, VERSION, ns, TASKS.plural)
    )
    try:
        await rec.ready.wait()
        await warm_up(
            lambda name: co.create_namespaced_custom_object(
                GROUP, VERSION, ns, TASKS.plural, task_body(name)
            ),
            rec,
        )
        print(f"  {system}: operator start -> warm-up task bound {time.monotonic() - started:.1f}s")
        created: dict[str, float] = {}
        cpu = cpu_seconds(op.pid)

        start = time.monotonic()

        async def add_task(i: int) -> None:
            name = f"task-{i:05d}"
            await paced(i, start)
            t0 = time.monotonic()
            await co.create_namespaced_custom_object(
                GROUP, VERSION, ns, TASKS.plural, task_body(name)
            )
            created[name] = t0

        await bounded(concurrency, [add_task(i) for i in range(tasks)])
        await asyncio.wait_for(rec.done.wait(), timeout=600)
        result = summarize(system, nodes, created, rec)
        result.cpu_ms_per_task = (cpu_seconds(op.pid) - cpu) * 1000 / tasks
        return result
    finally:
        watcher.cancel()
        op.terminate()
        await op.wait()


async def bare_patches(api: client.ApiClient, ns: str, names: list[str], in_flight: int) -> Result:
    """The physical limit: the same guarded status merge patch as a binding, with the
    scheduler's bind concurrency, on the same objects, nothing else running."""
    co = client.CustomObjectsApi(api)
    r = await co.list_namespaced_custom_object(
        GROUP, VERSION, ns, TASKS.plural, _preload_content=False
    )
    listed = {b["metadata"]["name"]: b for b in json.loads(await r.read())["items"]}
    writer = Writer(api, ns)
    done: dict[str, float] = {}

    async def one(name: str) -> None:
        body = listed[name]
        await writer.patch(  # raises Conflict: nothing else writes these
            TASKS, name, patches.bind_patch(body, "node-0", time.time()), status=True
        )
        done[name] = time.monotonic()

    t0 = time.monotonic()
    await bounded(in_flight, [one(n) for n in names])
    lat = [(done[n] - t0) * 1000 for n in names]
    return Result(
        "bare patches",
        0,
        len(names),
        len(names) / (max(done.values()) - t0),
        statistics.median(lat),
        percentile(lat, 0.99),
        1.0,
        mode="backlog",
    )


async def backlog_ours(
    api: client.ApiClient,
    kubeconfig: str,
    nodes: int,
    tasks: int,
    concurrency: int,
    run: int,
    system: str = "web4ai",
    repo: Path = REPO,
) -> list[Result]:
    ns = f"{system}-backlog-{nodes}-{run}"
    co = client.CustomObjectsApi(api)
    await setup_ours(api, ns, nodes, tasks, concurrency, paused=True)
    rec = Recorder(is_assigned)
    rec.expected = tasks
    watcher = asyncio.create_task(
        rec.run(co.list_namespaced_custom_object, GROUP, VERSION, ns, TASKS.plural)
    )
    op = await start_operator(kubeconfig, ns, repo)
    names = [f"task-{i:05d}" for i in range(tasks)]
    try:
        await rec.ready.wait()
        t0 = time.monotonic()
        await bounded(
            concurrency,
            [
                co.create_namespaced_custom_object(GROUP, VERSION, ns, TASKS.plural, task_body(n))
                for n in names
            ],
        )
        created_s = time.monotonic() - t0
        await asyncio.sleep(5)  # operator up, synced (every task in its cache) and leading
        released = time.monotonic()
        await co.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            ns,
            "web4aiorchestrators",
            "web4ai",
            {"spec": {"paused": False}},
            _content_type=MERGE,
        )
        await asyncio.wait_for(rec.done.wait(), timeout=900)
        ours = summarize_backlog(system, nodes, names, rec)
        first = min(rec.bound_at.values())
        print(
            f"  backlog created in {created_s:.1f}s ({tasks / created_s:.0f}/s); "
            f"release -> first binding {(first - released) * 1000:.0f} ms",
            flush=True,
        )
        op.terminate()
        await op.wait()
        if system != "web4ai":
            return [ours]
        # the bench's own watch keeps running, as it did while the operator bound
        bare = await bare_patches(api, ns, names, IN_FLIGHT or Scheduler.max_in_flight)
        bare.nodes = nodes
        return [ours, bare]
    finally:
        if op.returncode is None:
            op.terminate()
            await op.wait()
        watcher.cancel()


async def backlog_kube(
    api: client.ApiClient, kubeconfig: str, nodes: int, tasks: int, concurrency: int, run: int
) -> list[Result]:
    ns = f"kube-backlog-{nodes}-{run}"
    prefix = await setup_kube(api, ns, nodes, tasks, concurrency, f"kb{nodes}-{run}")
    core = client.CoreV1Api(api)
    rec = Recorder(lambda raw: bool((raw.get("spec") or {}).get("nodeName")))
    rec.expected = tasks
    watcher = asyncio.create_task(rec.run(pod_lister(core), ns))
    names = [f"pod-{i:05d}" for i in range(tasks)]
    sched = None
    try:
        await rec.ready.wait()
        await bounded(
            concurrency, [core.create_namespaced_pod(ns, pod_body(n, prefix)) for n in names]
        )
        sched = await start_kube_scheduler(kubeconfig)
        await asyncio.wait_for(rec.done.wait(), timeout=900)
        return [summarize_backlog("kube-scheduler", nodes, names, rec)]
    finally:
        watcher.cancel()
        if sched is not None:
            sched.terminate()
            await sched.wait()


async def setup_kube(
    api: client.ApiClient, ns: str, nodes: int, tasks: int, concurrency: int, prefix: str
) -> str:
    core = client.CoreV1Api(api)
    await core.create_namespace({"metadata": {"name": ns}})
    await core.create_namespaced_service_account(ns, {"metadata": {"name": "default"}})

    async def add_node(i: int) -> None:
        name = f"{prefix}-node-{i}"
        await core.create_node({"metadata": {"name": name, "labels": {"bench": prefix}}})
        cap = {"cpu": "64", "memory": "256Gi", "pods": str(max(110, 2 * tasks // nodes))}
        await core.patch_node_status(
            name,
            {
                "status": {
                    "capacity": cap,
                    "allocatable": cap,
                    "conditions": [
                        {
                            "type": "Ready",
                            "status": "True",
                            "reason": "Bench",
                            "message": "bench",
                            "lastHeartbeatTime": format_time(time.time()).replace(".000000", "")[
                                :19
                            ]
                            + "Z",
                        }
                    ],
                }
            },
        )
        # TaintNodesByCondition admission marks new nodes not-ready; the node
        # lifecycle controller (not run here) would lift it once Ready.
        await core.patch_node(name, [{"op": "remove", "path": "/spec/taints"}])

    await bounded(concurrency, [add_node(i) for i in range(nodes)])
    return prefix


async def start_kube_scheduler(kubeconfig: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *[
            str(binary("kube-scheduler")),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--leader-elect=false",
            "--secure-port=0",
            "--v=0",
            # kube-scheduler's client defaults to 50 QPS, which caps it at ~50
            # bindings/s; our operator's client is not throttled, so neither is this.
            f"--kube-api-qps={KUBE_QPS}",
            f"--kube-api-burst={KUBE_QPS}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=die_with_parent,
    )


def pod_lister(core: client.CoreV1Api) -> Any:
    async def list_pods(namespace: str, **kw: Any) -> Any:
        if kw.get("watch"):
            return await core.list_namespaced_pod(namespace, **kw)
        r = await core.list_namespaced_pod(namespace, _preload_content=False, **kw)
        return json.loads(await r.read())

    list_pods.__doc__ = core.list_namespaced_pod.__doc__
    return list_pods


def pod_body(name: str, prefix: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "automountServiceAccountToken": False,
            "nodeSelector": {"bench": prefix},
            "containers": [
                {"name": "c", "image": "pause", "resources": {"requests": {"cpu": "10m"}}}
            ],
        },
    }


async def bench_kube(
    api: client.ApiClient, kubeconfig: str, nodes: int, tasks: int, concurrency: int, run: int
) -> Result:
    ns = f"kube-{nodes}-{run}"
    prefix = await setup_kube(api, ns, nodes, tasks, concurrency, f"k{nodes}-{run}")
    core = client.CoreV1Api(api)
    sched = await start_kube_scheduler(kubeconfig)
    rec = Recorder(lambda raw: bool((raw.get("spec") or {}).get("nodeName")))
    rec.expected = tasks
    watcher = asyncio.create_task(rec.run(pod_lister(core), ns))
    try:
        await rec.ready.wait()
        await warm_up(lambda name: core.create_namespaced_pod(ns, pod_body(name, prefix)), rec)
        created: dict[str, float] = {}
        cpu = cpu_seconds(sched.pid)

        start = time.monotonic()

        async def add_pod(i: int) -> None:
            name = f"pod-{i:05d}"
            await paced(i, start)
            t0 = time.monotonic()
            await core.create_namespaced_pod(ns, pod_body(name, prefix))
            created[name] = t0

        await bounded(concurrency, [add_pod(i) for i in range(tasks)])
        await asyncio.wait_for(rec.done.wait(), timeout=600)
        result = summarize("kube-scheduler", nodes, created, rec)
        result.cpu_ms_per_task = (cpu_seconds(sched.pid) - cpu) * 1000 / tasks
        return result
    finally:
        watcher.cancel()
        sched.terminate()
        await sched.wait()


def medians(results: list[Result], mode: str, system: str, nodes: int) -> Result:
    rs = [r for r in results if r.mode == mode and r.nodes == nodes and r.system == system]
    return Result(
        system,
        nodes,
        rs[0].tasks,
        statistics.median(r.per_second for r in rs),
        statistics.median(r.p50_ms for r in rs),
        statistics.median(r.p99_ms for r in rs),
        statistics.median(r.writes_per_task for r in rs),
        mode=mode,
        cpu_ms_per_task=None
        if any(r.cpu_ms_per_task is None for r in rs)
        else statistics.median(r.cpu_ms_per_task for r in rs if r.cpu_ms_per_task is not None),
    )


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    modes = ["streaming", "backlog"] if args.mode == "both" else [args.mode]
    results: list[Result] = []
    with ControlPlane() as plane:
        api = await api_client(str(plane.kubeconfig))
        await crds_mod.install(api, REPO / "crds")
        for nodes in args.nodes:
            for run in range(args.repeat):
                kc, c = str(plane.kubeconfig), args.concurrency
                if "streaming" in modes:
                    # with a baseline, the two take turns going first (a later run
                    # meets a fuller etcd and a warmer machine)
                    turns: list[tuple[str, Path]] = [("web4ai", REPO)]
                    if args.baseline:
                        turns.insert(run % 2, ("web4ai-before", args.baseline))
                    for system, repo in turns:
                        r = await bench_ours(api, kc, nodes, args.tasks, c, run, system, repo)
                        print(r.row(), flush=True)
                        results.append(r)
                    r = await bench_kube(api, kc, nodes, args.tasks, c, run)
                    print(r.row(), flush=True)
                    results.append(r)
                if "backlog" in modes:
                    batch: list[Result] = []
                    backlogs: list[tuple[str, Path]] = [("web4ai", REPO)]
                    if args.baseline:  # taking turns, as in streaming
                        backlogs.insert(run % 2, ("web4ai-before", args.baseline))
                    for system, repo in backlogs:
                        batch += await backlog_ours(
                            api, kc, nodes, args.backlog, c, run, system, repo
                        )
                    batch += await backlog_kube(api, kc, nodes, args.backlog, c, run)
                    for r in batch:
                        print(r.row(), flush=True)
                    results += batch
        await api.close()
    print("\nmedians:")
    summary: dict[str, Any] = {"runs": [vars(r) for r in results], "ratios": {}}
    for nodes in args.nodes:
        for mode in modes:
            ours = medians(results, mode, "web4ai", nodes)
            kube = medians(results, mode, "kube-scheduler", nodes)
            print(ours.row())
            print(kube.row())
            ratio = ours.per_second / kube.per_second
            summary["ratios"][f"{mode}/{nodes}/vs-kube-scheduler"] = ratio
            print(f"{mode}: ratio web4ai/kube-scheduler at {nodes} nodes: {ratio:.2f}")
            if args.baseline:
                before = medians(results, mode, "web4ai-before", nodes)
                print(before.row())
                speedup = ours.per_second / before.per_second
                summary["ratios"][f"{mode}/{nodes}/vs-before"] = speedup
                print(f"{mode}: ratio web4ai/web4ai-before at {nodes} nodes: {speedup:.2f}")
            if mode == "backlog":
                bare = medians(results, mode, "bare patches", nodes)
                print(bare.row())
                limit = ours.per_second / bare.per_second
                summary["ratios"][f"{mode}/{nodes}/vs-bare-patches"] = limit
                print(f"{mode}: ratio web4ai/bare patches at {nodes} nodes: {limit:.2f}")
    return summary


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--mode", choices=["streaming", "backlog", "both"], default="both")
    p.add_argument("--tasks", type=int, default=1000, help="tasks in streaming mode")
    p.add_argument("--backlog", type=int, default=5000, help="tasks in backlog mode")
    p.add_argument("--nodes", type=int, nargs="+", default=[50, 500])
    p.add_argument("--concurrency", type=int, default=128, help="concurrent creates")
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--json", help="write the runs and ratios to this file")
    p.add_argument(
        "--baseline",
        type=Path,
        help="also run the operator from this checkout (e.g. `git archive main`), "
        "as web4ai-before, back to back in the same run",
    )
    p.add_argument(
        "--in-flight",
        type=int,
        help="the operator's --bind-in-flight and the bare loop's concurrency "
        "(default: the operator's default)",
    )
    p.add_argument(
        "--rate",
        type=float,
        help="streaming: create the tasks (pods) at this many per second, open loop, "
        "instead of as fast as --concurrency allows",
    )
    args = p.parse_args()
    global IN_FLIGHT, RATE
    IN_FLIGHT, RATE = args.in_flight, args.rate
    summary = asyncio.run(main_async(args))
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
