"""Operator start-up benchmark: cold start and standby failover on a full store.

    make bench-operator-start     # or: python -m bench.operator_start --nodes 1000 --tasks 10000

On one fresh local control plane: ``--nodes`` Web4AINode objects (with Leases) and
``--tasks`` pending Web4AITask objects exist before any operator runs. Then:

  * cold start: operator A starts; reported are the wall time from its start to the
    first binding and to the last (every task bound; the nodes have room for all of
    them), and A's CPU seconds at its first binding (/proc/PID/stat, user + system).
  * standby: operator B starts and waits, warm, as a standby (its probe ``synced``
    is true on the liveness endpoint); A is SIGKILLed, ``--probe`` new tasks are
    created at once, and reported is the time from the kill to B's first binding.
    Both replicas run with the default lease (15 s), so this includes waiting out
    the dead leader's Lease, as client-go's election would.

``--baseline PATH`` also runs the same rounds with the operator from another
checkout (e.g. ``git archive main``), back to back on the same control plane.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client, watch

from bench.common import (
    bounded,
    cpu_seconds,
    create_node,
    create_orchestrator,
    profiled,
    task_body,
)
from devtools.localcluster.controlplane import ControlPlane, die_with_parent
from devtools.localcluster.ports import free_port
from web4ai.core.resources import GROUP, TASKS, VERSION
from web4ai.k8s import crds as crds_mod
from web4ai.k8s.client import api_client

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Result:
    system: str
    nodes: int
    tasks: int
    first_binding_s: float
    all_bound_s: float
    cpu_at_first_s: float
    standby_first_binding_s: float

    def row(self) -> str:
        return (
            f"{self.system:14s} nodes={self.nodes} tasks={self.tasks} "
            f"cold start -> first binding {self.first_binding_s:6.1f}s "
            f"(CPU {self.cpu_at_first_s:5.1f}s), all bound {self.all_bound_s:6.1f}s; "
            f"leader SIGKILL -> standby's first binding {self.standby_first_binding_s:5.1f}s"
        )


class Bindings:
    """Watches the tasks and records when each is first seen assigned."""

    def __init__(self) -> None:
        self.bound_at: dict[str, float] = {}
        self.changed = asyncio.Event()

    async def run(self, co: client.CustomObjectsApi, ns: str) -> None:
        rv = None
        while True:
            w = watch.Watch()
            try:
                kw: dict[str, Any] = {"timeout_seconds": 600}
                if rv is not None:
                    kw["resource_version"] = rv
                async for ev in w.stream(
                    co.list_namespaced_custom_object, GROUP, VERSION, ns, TASKS.plural, **kw
                ):
                    raw = ev["object"]
                    rv = raw["metadata"]["resourceVersion"]
                    name = raw["metadata"]["name"]
                    phase = (raw.get("status") or {}).get("phase")
                    if phase == "assigned" and name not in self.bound_at:
                        self.bound_at[name] = time.monotonic()
                        self.changed.set()
            except client.exceptions.ApiException:
                rv = None
                await asyncio.sleep(0.1)
            finally:
                await w.close()

    async def wait(self, predicate: Any, within: float) -> None:
        deadline = time.monotonic() + within
        while not predicate():
            self.changed.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("bindings did not arrive in time")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), timeout=min(left, 1.0))


def start_operator(
    kubeconfig: str, ns: str, repo: Path, liveness_port: int, cprofile: Path | None = None
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "web4ai.operator",
            "--namespace",
            ns,
            "--kubeconfig",
            kubeconfig,
            "--metrics-port",
            "0",
            "--liveness",
            f"http://127.0.0.1:{liveness_port}/healthz",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=profiled({"PYTHONPATH": str(repo), "PATH": "/usr/bin:/bin"}, cprofile, "operator"),
        cwd=repo,  # `python -m` puts the working directory first on sys.path
        preexec_fn=die_with_parent,
    )


def synced(liveness_port: int) -> bool:
    """The operator's Kopf probe ``synced`` (its caches hold the whole store)."""
    try:
        url = f"http://127.0.0.1:{liveness_port}/healthz"
        with urllib.request.urlopen(url, timeout=2) as r:
            return bool(json.loads(r.read()).get("synced"))
    except (OSError, ValueError):
        return False


async def setup(api: client.ApiClient, ns: str, nodes: int, tasks: int, concurrency: int) -> None:
    await client.CoreV1Api(api).create_namespace({"metadata": {"name": ns}})
    co = client.CustomObjectsApi(api)
    for _ in range(100):  # the new namespace's watch cache may still be starting
        try:
            await co.list_namespaced_custom_object(GROUP, VERSION, ns, TASKS.plural)
            break
        except client.exceptions.ApiException:
            await asyncio.sleep(0.1)
    # nodes made once and never heard from again stay live (3 x 3600 s)
    await create_orchestrator(
        api,
        ns,
        {
            "network": {"loadBalanceAlgorithm": "least_connections"},
            "orchestrator": {"heartbeatInterval": 3600},
        },
    )
    agents = max(1, -(-2 * tasks // nodes))  # room for every task, twice over
    await bounded(
        concurrency,
        [
            create_node(
                api, ns, f"node-{i}", {"host": "127.0.0.1", "agentsCount": agents}, {}, 3600
            )
            for i in range(nodes)
        ],
    )
    await bounded(
        concurrency,
        [
            co.create_namespaced_custom_object(
                GROUP, VERSION, ns, TASKS.plural, task_body(f"task-{i:05d}")
            )
            for i in range(tasks)
        ],
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def one_round(
    api: client.ApiClient, kubeconfig: str, system: str, repo: Path, args: argparse.Namespace
) -> Result:
    ns = f"start-{system}"
    co = client.CustomObjectsApi(api)
    t0 = time.monotonic()
    await setup(api, ns, args.nodes, args.tasks, args.concurrency)
    print(
        f"  {system}: store of {args.nodes} nodes, {args.tasks} tasks made in "
        f"{time.monotonic() - t0:.0f}s",
        flush=True,
    )
    rec = Bindings()
    watcher = asyncio.create_task(rec.run(co, ns))
    await asyncio.sleep(1)
    a_port, b_port = free_port(), free_port()
    started = time.monotonic()
    a = start_operator(kubeconfig, ns, repo, a_port)
    b: subprocess.Popen[bytes] | None = None
    try:
        await rec.wait(lambda: rec.bound_at, args.timeout)
        cpu = cpu_seconds(a.pid)
        first = min(rec.bound_at.values()) - started
        await rec.wait(lambda: len(rec.bound_at) >= args.tasks, args.timeout)
        last = max(rec.bound_at.values()) - started
        b = start_operator(kubeconfig, ns, repo, b_port)
        deadline = time.monotonic() + args.timeout
        while not synced(b_port):
            if time.monotonic() > deadline:
                raise TimeoutError("the standby never synced")
            await asyncio.sleep(0.5)
        await asyncio.sleep(args.settle)  # A renews its Lease; B has watched it a while
        killed = time.monotonic()
        a.kill()
        probes = [f"probe-{i:03d}" for i in range(args.probe)]
        await bounded(
            args.probe,
            [
                co.create_namespaced_custom_object(GROUP, VERSION, ns, TASKS.plural, task_body(n))
                for n in probes
            ],
        )
        await rec.wait(lambda: any(n in rec.bound_at for n in probes), args.timeout)
        failover = min(rec.bound_at[n] for n in probes if n in rec.bound_at) - killed
        return Result(system, args.nodes, args.tasks, first, last, cpu, failover)
    finally:
        watcher.cancel()
        stop(a)
        if b is not None:
            stop(b)
        await client.CoreV1Api(api).delete_namespace(ns)


async def main_async(args: argparse.Namespace) -> list[Result]:
    results: list[Result] = []
    with ControlPlane() as plane:
        api = await api_client(str(plane.kubeconfig))
        await crds_mod.install(api, REPO / "crds")
        rounds: list[tuple[str, Path]] = [("web4ai", REPO)]
        if args.baseline:
            rounds.insert(0, ("web4ai-before", args.baseline))
        for system, repo in rounds:
            r = await one_round(api, str(plane.kubeconfig), system, repo, args)
            print(r.row(), flush=True)
            results.append(r)
        await api.close()
    return results


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--nodes", type=int, default=1000)
    p.add_argument("--tasks", type=int, default=10000)
    p.add_argument("--probe", type=int, default=10, help="tasks created at the leader's kill")
    p.add_argument("--concurrency", type=int, default=64, help="concurrent creates in the setup")
    p.add_argument("--settle", type=float, default=5.0, help="seconds the standby waits warm")
    p.add_argument("--timeout", type=float, default=600.0)
    p.add_argument(
        "--baseline",
        type=Path,
        help="also run the operator from this checkout (e.g. `git archive main`), first",
    )
    p.add_argument("--json", help="write the results to this file")
    args = p.parse_args()
    results = asyncio.run(main_async(args))
    if args.json:
        Path(args.json).write_text(json.dumps([vars(r) for r in results], indent=2) + "\n")


if __name__ == "__main__":
    main()
