"""Scheduler benchmark: our operator vs kube-scheduler on the same API server.

    make bench-scheduler            # or: python -m bench.scheduler --tasks 1000 --nodes 50 500

For each node count N, on one fresh local control plane:
  * ours: N Web4AINode objects (with Leases), the operator running, then
    ``--tasks`` Web4AITask objects created with bounded concurrency; a watch
    records when each task is seen bound and how many writes it took.
  * kube-scheduler: N v1 Node objects and ``--tasks`` Pods, same concurrency.
Reports tasks bound per second (first create -> last bound), p50/p99 of
create -> bound, API writes per task up to binding, and our rate as a ratio
to kube-scheduler's. Medians of ``--repeat`` runs when repeat > 1.
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

from bench.common import bounded, create_node, percentile
from web4ai.k8s import crds as crds_mod
from web4ai.k8s.client import api_client
from web4ai.k8s.resources import GROUP, TASKS, VERSION, format_time
from web4ai.localcluster.binaries import binary
from web4ai.localcluster.controlplane import ControlPlane, die_with_parent

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

    def row(self) -> str:
        return (
            f"{self.system:15s} nodes={self.nodes:4d} tasks={self.tasks:5d} "
            f"rate={self.per_second:8.1f}/s p50={self.p50_ms:8.1f}ms "
            f"p99={self.p99_ms:8.1f}ms writes/task={self.writes_per_task:.2f}"
        )


async def create_namespace(api: client.ApiClient, name: str) -> None:
    await client.CoreV1Api(api).create_namespace({"metadata": {"name": name}})
    # the watch cache of a new resource may still be starting: wait until a list works
    for _ in range(100):
        try:
            await client.CustomObjectsApi(api).list_namespaced_custom_object(
                GROUP, VERSION, name, TASKS
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


def summarize(system: str, nodes: int, created: dict[str, float], rec: Recorder) -> Result:
    lat = [(rec.bound_at[n] - created[n]) * 1000 for n in created]
    span = max(rec.bound_at.values()) - min(created.values())
    writes = [rec.versions[n] - 1 for n in created]  # first version is the create
    return Result(
        system,
        nodes,
        len(created),
        len(created) / span,
        statistics.median(lat),
        percentile(lat, 0.99),
        statistics.mean(writes),
    )


async def bench_ours(
    api: client.ApiClient, kubeconfig: str, nodes: int, tasks: int, concurrency: int, run: int
) -> Result:
    ns = f"ours-{nodes}-{run}"
    await create_namespace(api, ns)
    co = client.CustomObjectsApi(api)
    await co.create_namespaced_custom_object(
        GROUP,
        VERSION,
        ns,
        "web4aiorchestrators",
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Web4AIOrchestrator",
            "metadata": {"name": "web4ai"},
            "spec": {"network": {"loadBalanceAlgorithm": "least_connections"}},
        },
    )
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
    op = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "web4ai.operator", "--namespace", ns, "--kubeconfig", kubeconfig],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        preexec_fn=die_with_parent,
    )
    rec = Recorder(lambda raw: (raw.get("status") or {}).get("phase") == "assigned")
    rec.expected = tasks
    watcher = asyncio.create_task(
        rec.run(co.list_namespaced_custom_object, GROUP, VERSION, ns, TASKS)
    )
    try:
        await rec.ready.wait()
        await asyncio.sleep(3)  # operator up, synced and leading
        created: dict[str, float] = {}

        async def add_task(i: int) -> None:
            name = f"task-{i:05d}"
            t0 = time.monotonic()
            await co.create_namespaced_custom_object(
                GROUP,
                VERSION,
                ns,
                TASKS,
                {
                    "apiVersion": f"{GROUP}/{VERSION}",
                    "kind": "Web4AITask",
                    "metadata": {"name": name, "labels": {"web4ai.io/task-id": name}},
                    "spec": {
                        "taskId": name,
                        "taskType": "noop",
                        "submittedAt": format_time(time.time()),
                    },
                },
            )
            created[name] = t0

        await bounded(concurrency, [add_task(i) for i in range(tasks)])
        await asyncio.wait_for(rec.done.wait(), timeout=600)
        return summarize("web4ai", nodes, created, rec)
    finally:
        watcher.cancel()
        op.terminate()
        await op.wait()


async def bench_kube(
    api: client.ApiClient, kubeconfig: str, nodes: int, tasks: int, concurrency: int, run: int
) -> Result:
    ns = f"kube-{nodes}-{run}"
    core = client.CoreV1Api(api)
    await core.create_namespace({"metadata": {"name": ns}})
    await core.create_namespaced_service_account(ns, {"metadata": {"name": "default"}})
    prefix = f"k{nodes}-{run}"

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
    sched = await asyncio.create_subprocess_exec(
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
    rec = Recorder(lambda raw: bool((raw.get("spec") or {}).get("nodeName")))
    rec.expected = tasks

    async def list_pods(namespace: str, **kw: Any) -> Any:
        if kw.get("watch"):
            return await core.list_namespaced_pod(namespace, **kw)
        r = await core.list_namespaced_pod(namespace, _preload_content=False, **kw)
        return json.loads(await r.read())

    list_pods.__doc__ = core.list_namespaced_pod.__doc__
    watcher = asyncio.create_task(rec.run(list_pods, ns))
    try:
        await rec.ready.wait()
        await asyncio.sleep(3)
        created: dict[str, float] = {}

        async def add_pod(i: int) -> None:
            name = f"pod-{i:05d}"
            t0 = time.monotonic()
            await core.create_namespaced_pod(
                ns,
                {
                    "metadata": {"name": name},
                    "spec": {
                        "automountServiceAccountToken": False,
                        "nodeSelector": {"bench": prefix},
                        "containers": [
                            {
                                "name": "c",
                                "image": "pause",
                                "resources": {"requests": {"cpu": "10m"}},
                            }
                        ],
                    },
                },
            )
            created[name] = t0

        await bounded(concurrency, [add_pod(i) for i in range(tasks)])
        await asyncio.wait_for(rec.done.wait(), timeout=600)
        return summarize("kube-scheduler", nodes, created, rec)
    finally:
        watcher.cancel()
        sched.terminate()
        await sched.wait()


async def main_async(args: argparse.Namespace) -> None:
    with ControlPlane() as plane:
        api = await api_client(str(plane.kubeconfig))
        await crds_mod.install(api, REPO / "crds")
        results: list[Result] = []
        for nodes in args.nodes:
            for run in range(args.repeat):
                for bench in (bench_ours, bench_kube):
                    r = await bench(
                        api, str(plane.kubeconfig), nodes, args.tasks, args.concurrency, run
                    )
                    print(r.row(), flush=True)
                    results.append(r)
        await api.close()
    print("\nmedians:")
    for nodes in args.nodes:
        med = {}
        for system in ("web4ai", "kube-scheduler"):
            rs = [r for r in results if r.nodes == nodes and r.system == system]
            med[system] = Result(
                system,
                nodes,
                args.tasks,
                statistics.median(r.per_second for r in rs),
                statistics.median(r.p50_ms for r in rs),
                statistics.median(r.p99_ms for r in rs),
                statistics.median(r.writes_per_task for r in rs),
            )
            print(med[system].row())
        ratio = med["web4ai"].per_second / med["kube-scheduler"].per_second
        print(f"ratio web4ai/kube-scheduler at {nodes} nodes: {ratio:.2f}")


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--tasks", type=int, default=1000)
    p.add_argument("--nodes", type=int, nargs="+", default=[50, 500])
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--repeat", type=int, default=1)
    asyncio.run(main_async(p.parse_args()))


if __name__ == "__main__":
    main()
