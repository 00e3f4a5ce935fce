"""End-to-end benchmark: tasks/s from REST submit to completed, with real node processes.

    make bench-e2e          # or: python -m bench.e2e --nodes 3 20 --tasks 500

For each node count, on a fresh local control plane with the operator, the API
and ``N`` reference nodes (``web4ai node``, ``--agents`` agents each): ``--tasks``
no-op ``test_task``s are submitted through POST /api/v1/tasks with ``--concurrency``
clients; completion is seen on the WebSocket (``task_completed``). Reports
tasks/s (first submit -> last completion) and p50/p99 of submit -> completed, and
per completed task (``bench.costs``): the CPU of each process (API, operator,
kube-apiserver, etcd, the nodes) from /proc, the API server's writes by kind with
their bytes, and the watch events it sent (from its own ``/metrics``).
``--profile DIR`` also records the API, the operator and one node with py-spy (an extra
run, not counted in the figures) and prints their top frames.

``--baseline DIR`` (a ``git archive`` of the old code) runs the same with every
process (operator, API, nodes) from that code, as ``before``: the two take turns
``--repeat`` times (alternating who goes first) and each figure is the median.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
import websockets
from kubernetes_asyncio import client

from bench import costs
from bench.common import bounded, percentile, profiled
from devtools.localcluster.controlplane import ControlPlane, die_with_parent
from devtools.localcluster.ports import free_port
from web4ai.core.bodies import parse_time
from web4ai.k8s import crds as crds_mod
from web4ai.k8s.client import api_client

REPO = Path(__file__).resolve().parents[1]
KEY = "bench-admin-key"


# The nodes share this machine with the processes under test, whose load would read as
# the nodes' own: at the rates measured here the machine's CPU is near 100 % and every
# node would be over the cpu threshold. Each node reports its own process's CPU instead
# (the same for the code before, which is run the same way).
NODE_SHIM = """
import sys, psutil
from web4ai.cli import main
own = psutil.Process()
cores = psutil.cpu_count() or 1
psutil.cpu_percent = lambda interval=None, percpu=False: own.cpu_percent(None) / cores
sys.exit(main())
"""


def spawn(
    args: list[str], env: dict[str, str], cprofile: Path | None = None
) -> subprocess.Popen[bytes]:
    run = ["-c", NODE_SHIM] if args[0] == "node" else ["-m", "web4ai"]
    repo = env["PYTHONPATH"]
    return subprocess.Popen(
        [sys.executable, *run, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=profiled(env, cprofile, args[0]),
        cwd=repo,  # `python -m`/`-c` put the working directory first on sys.path
        preexec_fn=die_with_parent,
    )


async def wait_nodes(base: str, count: int) -> None:
    headers = {"Authorization": f"Bearer {KEY}"}
    async with aiohttp.ClientSession(headers=headers) as s:
        while True:
            try:
                async with s.get(f"{base}/nodes") as r:
                    if r.status == 200:
                        nodes = (await r.json())["nodes"]
                        if sum(n["status"] == "active" for n in nodes.values()) >= count:
                            return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.5)


async def run_once(
    nodes: int,
    tasks: int,
    concurrency: int,
    run: int,
    agents: int,
    repo: Path = REPO,
    profile: Path | None = None,
    cprofile: Path | None = None,
) -> dict[str, Any]:
    if cprofile is not None:
        os.makedirs(cprofile, exist_ok=True)
    with ControlPlane() as plane:
        api = await api_client(str(plane.kubeconfig))
        await crds_mod.install(api, REPO / "crds")
        await api.close()
        port, ws_port = free_port(), free_port()
        base = f"http://127.0.0.1:{port}/api/v1"
        env = {
            **os.environ,
            "PYTHONPATH": str(repo),
            "WEB4AI_API_KEY": KEY,
            "KUBECONFIG": str(plane.kubeconfig),
        }
        ns = ["--namespace", f"e2e-{run}"]
        api = await api_client(str(plane.kubeconfig))
        await client.CoreV1Api(api).create_namespace({"metadata": {"name": f"e2e-{run}"}})
        await api.close()
        metrics = ["--metrics-port", str(free_port())]
        api_args = ["--port", str(port), "--ws-port", str(ws_port), "--metrics-port"]
        procs = [
            spawn(["operator", *ns, *metrics], env, cprofile),
            spawn(["api", *ns, *api_args, str(free_port())], env, cprofile),
        ]
        try:
            procs += [
                spawn(
                    [
                        "node",
                        "--node-id",
                        f"bench-node-{i}",
                        "--orchestrator-url",
                        base,
                        "--agents",
                        str(agents),
                        "--poll-wait",
                        "10",
                        "--heartbeat-interval",
                        "10",
                    ],
                    env,
                    cprofile if i == 0 else None,
                )
                for i in range(nodes)
            ]
            await wait_nodes(base, nodes)
            # every process here shares one key, hence one rate-limit bucket (6000/min by
            # default); in production each node has its own key
            async with (
                aiohttp.ClientSession(headers={"Authorization": f"Bearer {KEY}"}) as s,
                s.put(
                    f"{base}/config", json={"security": {"max_requests_per_minute": 10_000_000}}
                ) as r,
            ):
                assert r.status == 200, await r.text()
            etcd, apiserver = plane.pids
            groups = {
                "api": [procs[1].pid],
                "operator": [procs[0].pid],
                "kube-apiserver": [apiserver],
                "etcd": [etcd],
                "nodes": [p.pid for p in procs[2:]],
            }
            ctx = plane.ssl_context()

            def fetch(path: str) -> str:
                with urllib.request.urlopen(f"{plane.server}{path}", context=ctx) as r:
                    return str(r.read().decode())

            def scrape() -> str:
                return fetch("/metrics")

            profiler = costs.Profiler(profile / f"{nodes}-{run}") if profile else None
            if profiler:
                pids = {"api": procs[1].pid, "operator": procs[0].pid, "node": procs[2].pid}
                profiler.start(pids)
            before = costs.sample(groups, scrape)
            try:
                out = await measure(base, f"ws://127.0.0.1:{ws_port}", tasks, concurrency)
            finally:
                tops = profiler.stop() if profiler else {}
            out["costs"] = costs.per_task(before, costs.sample(groups, scrape), tasks)
            path = f"/apis/web4ai.io/v1alpha1/namespaces/e2e-{run}/web4aitasks/bench-00000"
            stored = json.loads(fetch(path))
            out["costs"]["task_object"] = costs.object_sizes(stored)
            listed = json.loads(fetch(path.rsplit("/", 1)[0]))["items"]
            out["stages"] = stages(listed, nodes * agents)
            out["stages"]["seen"] = {k: v for k, v in out.items() if k.endswith("_p50_ms")}
            print(f"[stages] {json.dumps(out['stages'])}", flush=True)
            for name, t in tops.items():
                print(costs.describe_top(name, t), flush=True)
            if tops:
                out["profile"] = tops
            return out
        finally:
            for p in reversed(procs):
                p.terminate()
            for p in reversed(procs):
                try:
                    p.wait(timeout=40)
                except subprocess.TimeoutExpired:
                    p.kill()
            if cprofile is not None:
                for name in ("api", "operator", "node"):
                    print(costs.describe_cprofile(name, cprofile / f"{name}.prof"), flush=True)


def stages(items: list[dict[str, Any]], slots: int) -> dict[str, float]:
    """Where a task's time went, from the times its status records: waiting to be bound
    (submitted -> assigned) and held by its node (assigned -> completed, the slot busy),
    and the share of all slots' time that was busy between the first binding and the
    last completion (near 1: the slots bound the rate; lower: binding lags)."""
    waits, held, first, last = [], [], float("inf"), 0.0
    for item in items:
        st, spec = item.get("status") or {}, item["spec"]
        sub, asg, end = (
            parse_time(spec.get("submittedAt")),
            parse_time(st.get("assignedAt")),
            parse_time(st.get("completedAt")),
        )
        if sub is None or asg is None or end is None:
            continue
        waits.append(asg - sub)
        held.append(end - asg)
        first, last = min(first, asg), max(last, end)
    if not held:
        return {}
    return {
        "wait_p50_ms": round(statistics.median(waits) * 1000, 1),
        "held_p50_ms": round(statistics.median(held) * 1000, 1),
        "held_p99_ms": round(percentile(held, 0.99) * 1000, 1),
        "slots_busy": round(sum(held) / (slots * max(last - first, 1e-9)), 3),
    }


async def measure(base: str, ws_url: str, tasks: int, concurrency: int) -> dict[str, Any]:
    submitted: dict[str, float] = {}
    completed: dict[str, float] = {}
    assigned: dict[str, float] = {}  # when the API told of the binding (WebSocket)
    done = asyncio.Event()
    ws = await websockets.connect(
        ws_url, max_size=2**24, additional_headers={"Authorization": f"Bearer {KEY}"}
    )
    await ws.recv()

    async def listen() -> None:
        async for raw in ws:
            msg = json.loads(raw)
            if msg["type"] == "task_assigned":
                assigned.setdefault(msg["data"]["task_id"], time.perf_counter())
            if msg["type"] in ("task_completed", "task_failed"):
                completed[msg["data"]["task_id"]] = time.perf_counter()
                if len(completed) >= tasks and all(t in completed for t in submitted):
                    done.set()

    listener = asyncio.create_task(listen())
    headers = {"Authorization": f"Bearer {KEY}"}
    async with aiohttp.ClientSession(headers=headers) as session:

        async def submit(i: int) -> None:
            task_id = f"bench-{i:05d}"
            submitted[task_id] = time.perf_counter()
            async with session.post(
                f"{base}/tasks",
                json={"task_id": task_id, "task_type": "test_task", "input_data": {"i": i}},
            ) as r:
                await r.read()

        start = time.perf_counter()
        await bounded(concurrency, [submit(i) for i in range(tasks)])
        submit_span = time.perf_counter() - start
        await asyncio.wait_for(done.wait(), 600)
    listener.cancel()
    await ws.close()
    latencies = [completed[t] - submitted[t] for t in submitted]
    span = max(completed.values()) - start
    seen = [t for t in submitted if t in assigned]
    told = [assigned[t] - submitted[t] for t in seen]
    turn = [completed[t] - assigned[t] for t in seen]
    return {
        "told_assigned_p50_ms": statistics.median(told) * 1000 if told else None,
        "assigned_to_completed_p50_ms": statistics.median(turn) * 1000 if turn else None,
        "rate": tasks / span,
        # how fast the API took the submissions: when it outruns the rate of completion,
        # the tasks queue, and the latencies grow with the backlog
        "submit_rate": tasks / submit_span,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
    }


def median_costs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each figure of ``bench.costs.per_task`` as the median over the runs (a kind of
    write missing from a run counts as 0 there)."""
    out: dict[str, Any] = {}
    for key, first in runs[0].items():
        if isinstance(first, dict):
            names = sorted({n for r in runs for n in r[key]})
            out[key] = {n: statistics.median(r[key].get(n, 0) for r in runs) for n in names}
        else:
            out[key] = statistics.median(r[key] for r in runs)
    return out


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"tasks": args.tasks, "agents": args.agents, "runs": {}}
    systems = [("web4ai", REPO, out)]
    if args.baseline:
        out["before"] = {"runs": {}}
        systems.insert(0, ("before", args.baseline, out["before"]))
    for nodes in args.nodes:
        results: dict[str, list[dict[str, Any]]] = {label: [] for label, _, _ in systems}
        for r in range(args.repeat):  # the systems take turns, alternating who goes first
            for label, repo, _ in systems if r % 2 == 0 else systems[::-1]:
                results[label].append(
                    await run_once(nodes, args.tasks, args.concurrency, r, args.agents, repo)
                )
        for label, repo, into in systems:
            rate = statistics.median(x["rate"] for x in results[label])
            p50 = statistics.median(x["p50_ms"] for x in results[label])
            p99 = statistics.median(x["p99_ms"] for x in results[label])
            submit_rate = statistics.median(x["submit_rate"] for x in results[label])
            cost = median_costs([x["costs"] for x in results[label]])
            print(
                f"[{label}] nodes={nodes:3d} agents={args.agents} tasks={args.tasks} "
                f"rate={rate:7.1f} tasks/s p50={p50:8.1f}ms p99={p99:8.1f}ms "
                f"submitted at {submit_rate:.1f}/s "
                f"(median of {args.repeat}: "
                + ", ".join(f"{x['rate']:.1f}" for x in results[label])
                + ")",
                flush=True,
            )
            print(f"[{label}] per task: {json.dumps(cost)}", flush=True)
            into["runs"][str(nodes)] = {
                "rate": rate,
                "p50_ms": p50,
                "p99_ms": p99,
                "submit_rate": submit_rate,
                "rates": [x["rate"] for x in results[label]],
                "costs": cost,
            }
            again = functools.partial(
                run_once, nodes, args.tasks, args.concurrency, args.repeat, args.agents, repo
            )
            if args.profile:  # an extra run: the profiler's own CPU is not in the figures
                print(f"[{label}] profiling one more run with py-spy", flush=True)
                extra = await again(profile=args.profile / label)
                into["runs"][str(nodes)]["profile"] = extra.get("profile", {})
            if args.cprofile:
                print(f"[{label}] one more run under cProfile", flush=True)
                await again(cprofile=args.cprofile / label / str(nodes))
    return out


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--nodes", type=int, nargs="+", default=[3, 20])
    p.add_argument("--tasks", type=int, default=500)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--agents", type=int, default=4, help="agents (task slots) per node")
    p.add_argument(
        "--baseline",
        type=Path,
        help="also run every process from this checkout (e.g. `git archive main`), as "
        "before, back to back",
    )
    p.add_argument(
        "--profile",
        type=Path,
        help="also record the API and the operator with py-spy in one extra run per system "
        "and node count (raw profiles into this directory; top frames printed and kept)",
    )
    p.add_argument(
        "--cprofile",
        type=Path,
        help="run the API, the operator and one node under cProfile timed by CPU (one "
        "extra run, not counted) and print where their CPU went",
    )
    p.add_argument("--json", help="write the figures to this file")
    args = p.parse_args()
    out = asyncio.run(main_async(args))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
