"""API benchmark: reads from the watch cache, heartbeats against raw Lease writes,
memory, and WebSocket fan-out.

    make bench-api          # or: python -m bench.api --nodes 1000 --tasks 10000

On one fresh local control plane: ``--nodes`` Web4AINodes (with Leases) and
``--tasks`` Web4AITasks are created straight in the API server, then the API
process starts and lists them. Measured in the same run:
  * GET /nodes, GET /status, GET /tasks?limit=50: p50/p99 latency and requests/s
    with ``--concurrency`` connections from ``wrk`` (a separate process; a Lua
    script sends the key and ``Accept-Encoding: gzip`` as browsers do), and the
    server's own handler time (mean and the p99's histogram bucket, from the API's
    ``web4ai_http_request_duration_seconds``);
  * heartbeats/s through POST /nodes/{id}/heartbeat, against the raw Lease-update
    rate of the same API server with the same concurrency (ratio), and the API
    server writes per heartbeat (the API's own ``web4ai_apiserver_requests_total``);
  * the API process's peak RSS (VmHWM);
  * for each of ``--ws-clients`` (100 and 1,000): that many WebSocket clients, spread
    over ``--ws-processes`` processes, receiving ``task_submitted``: p99 delay from
    just before the POST to the message's arrival.

``--baseline DIR`` (a ``git archive`` of the old code) starts the old API too, on the
same control plane, and measures both the same way: phase by phase, taking turns
``--rounds`` times (alternating who goes first), each figure the median of its rounds;
the old one's figures are ``before``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from kubernetes_asyncio import client

from bench.common import bounded, create_node, create_orchestrator, percentile
from devtools.localcluster.controlplane import ControlPlane, die_with_parent
from devtools.localcluster.ports import free_port
from web4ai.core.bodies import format_time
from web4ai.core.ids import node_lease_name
from web4ai.core.resources import GROUP, TASKS, VERSION
from web4ai.k8s import crds as crds_mod
from web4ai.k8s.client import api_client

REPO = Path(__file__).resolve().parents[1]
KEY = "bench-admin-key"
NS = "bench"
MERGE = "application/merge-patch+json"


async def wait_ready(base: str) -> None:
    """Until the API answers /health with 200 (its watch cache has synced)."""
    async with aiohttp.ClientSession() as s:
        while True:
            try:
                async with s.get(f"{base}/health") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)


def start_api(
    kubeconfig: str,
    port: int,
    metrics_port: int,
    ws_port: int | None = None,
    repo: Path = REPO,
) -> subprocess.Popen[bytes]:
    """``web4ai api`` on the benches' namespace and key, on free loopback ports."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "web4ai",
            "api",
            "--namespace",
            NS,
            "--kubeconfig",
            kubeconfig,
            "--port",
            str(port),
            "--ws-port",
            str(ws_port or free_port()),
            "--metrics-port",
            str(metrics_port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(repo), "WEB4AI_API_KEY": KEY},
        cwd=repo,  # `python -m` puts the working directory first on sys.path
        preexec_fn=die_with_parent,
    )


async def populate(api: client.ApiClient, nodes: int, tasks: int) -> None:
    await client.CoreV1Api(api).create_namespace({"metadata": {"name": NS}})
    co = client.CustomObjectsApi(api)
    await asyncio.sleep(1)
    await create_orchestrator(api, NS, {})

    async def node(i: int) -> None:
        await create_node(
            api,
            NS,
            f"node-{i:04d}",
            {"host": "10.0.0.1", "agentsCount": 4, "capabilities": ["test_task"]},
            {"cpuUsage": 20.0, "memoryUsage": 30.0},
            lease_seconds=90,
        )

    async def task(i: int) -> None:
        name = f"task-{i:05d}"
        await co.create_namespaced_custom_object(
            GROUP,
            VERSION,
            NS,
            TASKS.plural,
            {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "Web4AITask",
                "metadata": {"name": name, "labels": {"web4ai.io/task-id": name}},
                "spec": {
                    "taskId": name,
                    "taskType": "test_task",
                    "priority": 1 + i % 5,
                    "submittedAt": format_time(time.time()),
                    "inputData": {"i": i, "text": "x" * 200},
                },
            },
        )

    await bounded(64, [node(i) for i in range(nodes)])
    await bounded(64, [task(i) for i in range(tasks)])


async def load(
    url: str,
    total: int,
    concurrency: int,
    method: str = "GET",
    body: Any = None,
    urls: list[str] | None = None,
) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    headers = {"Authorization": f"Bearer {KEY}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        queue = list(range(total))

        async def worker() -> None:
            nonlocal errors
            while queue:
                i = queue.pop()
                target = urls[i % len(urls)] if urls else url
                t0 = time.perf_counter()
                async with session.request(method, target, json=body) as r:
                    await r.read()
                    if r.status != 200:
                        errors += 1
                latencies.append(time.perf_counter() - t0)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return {
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "rps": total / elapsed,
        "errors": errors,
    }


async def raw_lease_rate(api: client.ApiClient, nodes: int, total: int, concurrency: int) -> float:
    co = client.CustomObjectsApi(api)
    queue = list(range(total))

    async def worker() -> None:
        while queue:
            i = queue.pop()
            await co.patch_namespaced_custom_object(
                "coordination.k8s.io",
                "v1",
                NS,
                "leases",
                node_lease_name(f"node-{i % nodes:04d}"),
                {"spec": {"renewTime": format_time(time.time())}},
                _content_type=MERGE,
            )

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total / (time.perf_counter() - start)


async def websocket_fanout(
    base: str, ws: str, clients: int, messages: int, processes: int, prefix: str
) -> dict[str, float]:
    """``clients`` WebSocket clients over ``processes`` processes (bench.wsclients);
    this process submits ``messages`` tasks, 50 ms apart, and takes the delays from
    just before each POST to each arrival (wall clock: one machine)."""
    per = [clients // processes + (1 if i < clients % processes else 0) for i in range(processes)]
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.wsclients",
            ws,
            KEY,
            str(n),
            prefix,
            str(messages),
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            cwd=REPO,
            preexec_fn=die_with_parent,
        )
        for n in per
        if n
    ]
    for p in procs:
        assert p.stdout is not None
        line = await p.stdout.readline()
        assert line.strip() == b"ready", line
    sent: dict[str, float] = {}
    headers = {"Authorization": f"Bearer {KEY}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        for i in range(messages):
            task_id = f"{prefix}{i:04d}"
            sent[task_id] = time.time()
            async with session.post(
                f"{base}/tasks", json={"task_id": task_id, "task_type": "test_task"}
            ) as r:
                await r.read()
            await asyncio.sleep(0.05)
    delays: list[float] = []
    closed = 0
    for p in procs:
        out, _ = await p.communicate()
        report = json.loads(out.decode().strip().splitlines()[-1])
        closed += report["closed_by_server"]
        for task_id, times in report["arrivals"].items():
            delays += [t - sent[task_id] for t in times if task_id in sent]
    return {
        "p50_ms": statistics.median(delays) * 1000 if delays else float("nan"),
        "p99_ms": percentile(delays, 0.99) * 1000 if delays else float("nan"),
        "delivered": len(delays),
        "expected": clients * messages,
        "closed_by_server": closed,
    }


WRK_SCRIPT = """wrk.headers["Authorization"] = "Bearer {key}"
wrk.headers["Accept-Encoding"] = "gzip"
"""


def wrk_ms(text: str) -> float:
    units = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}
    for unit in ("us", "ms", "s", "m"):
        if text.endswith(unit) and text[: -len(unit)].replace(".", "", 1).isdigit():
            return float(text[: -len(unit)]) * units[unit]
    raise ValueError(f"not a wrk duration: {text!r}")


async def wrk(url: str, seconds: float, connections: int, script: Path) -> dict[str, float]:
    """``wrk`` (a separate C process) on ``url``: p50/p99 latency, requests/s, errors."""
    proc = await asyncio.create_subprocess_exec(
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--latency",
        "-s",
        str(script),
        url,
        stdout=subprocess.PIPE,
    )
    out, _ = await proc.communicate()
    text = out.decode()
    res: dict[str, float] = {"errors": 0.0}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in ("50%", "99%"):
            res[f"p{parts[0][:-1]}_ms"] = wrk_ms(parts[1])
        elif line.strip().startswith("Requests/sec:"):
            res["rps"] = float(parts[1])
        elif line.strip().startswith("Non-2xx or 3xx responses:") or "Socket errors" in line:
            res["errors"] += sum(float(x.strip(",")) for x in parts if x.strip(",").isdigit())
    if "p99_ms" not in res:
        raise RuntimeError(f"wrk gave no latency: {text}")
    return res


def histogram(text: str, name: str, route: str) -> tuple[dict[float, float], float, float]:
    """(cumulative bucket counts by upper bound, sum, count) of a route's requests."""
    buckets: dict[float, float] = {}
    total = count = 0.0
    for line in text.splitlines():
        if not line.startswith(name) or f'route="{route}"' not in line:
            continue
        labels, value = line.rsplit(" ", 1)
        if line.startswith(f"{name}_bucket"):
            le = labels.split('le="', 1)[1].split('"', 1)[0]
            bound = float("inf") if le == "+Inf" else float(le)
            buckets[bound] = buckets.get(bound, 0.0) + float(value)
        elif line.startswith(f"{name}_sum"):
            total += float(value)
        elif line.startswith(f"{name}_count"):
            count += float(value)
    return buckets, total, count


async def scrape(metrics_url: str) -> str:
    async with aiohttp.ClientSession() as s, s.get(metrics_url) as r:
        return await r.text()


def handler_time(before: str, after: str, route: str) -> dict[str, float]:
    """The server's own time in the handler (and middlewares) between two scrapes:
    mean, and the upper bound of the bucket holding the p99."""
    name = "web4ai_http_request_duration_seconds"
    b0, s0, c0 = histogram(before, name, route)
    b1, s1, c1 = histogram(after, name, route)
    n = c1 - c0
    if n <= 0:
        return {}
    p99 = float("inf")
    for bound in sorted(b1):
        if b1[bound] - b0.get(bound, 0.0) >= 0.99 * n:
            p99 = bound
            break
    return {"handler_mean_ms": (s1 - s0) / n * 1000, "handler_p99_le_ms": p99 * 1000}


async def apiserver_writes(metrics_url: str) -> dict[str, float]:
    """The API process's own count of its writes to the API server, by resource."""
    async with aiohttp.ClientSession() as s, s.get(metrics_url) as r:
        text = await r.text()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line.startswith("web4ai_apiserver_requests_total{"):
            continue
        labels, value = line.rsplit(" ", 1)
        fields = dict(kv.split("=", 1) for kv in labels[labels.index("{") + 1 : -1].split(","))
        if fields.get("verb", "").strip('"') in ("create", "update", "patch", "delete"):
            resource = fields.get("resource", "").strip('"')
            out[resource] = out.get(resource, 0.0) + float(value)
    return out


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


READS = (
    ("GET /nodes", "/nodes", "nodes"),
    ("GET /status", "/status", "status"),
    ("GET /tasks?limit=50", "/tasks?limit=50", "tasks"),
)


@dataclass
class Target:
    """One API process under measurement: the code at ``repo``."""

    label: str
    proc: subprocess.Popen[bytes]
    base: str
    ws_url: str
    metrics_url: str


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per figure, the median over rounds (and the rounds' count)."""
    keys = [k for k in runs[0] if all(isinstance(r.get(k), int | float) for r in runs)]
    return {k: statistics.median(r[k] for r in runs) for k in keys} | {"rounds": len(runs)}


async def start_target(args: argparse.Namespace, kubeconfig: str, repo: Path, label: str) -> Target:
    port, ws_port, metrics_port = free_port(), free_port(), free_port()
    proc = start_api(kubeconfig, port, metrics_port, ws_port, repo)
    base = f"http://127.0.0.1:{port}/api/v1"
    t0 = time.perf_counter()
    await wait_ready(base)
    print(f"[{label}] API ready (cache synced) in {time.perf_counter() - t0:.1f}s", flush=True)
    return Target(
        label, proc, base, f"ws://127.0.0.1:{ws_port}", f"http://127.0.0.1:{metrics_port}/metrics"
    )


def in_turn(targets: list[Target], r: int) -> list[Target]:
    """Round ``r``'s order: alternating, so that neither system always goes first."""
    return targets if r % 2 == 0 else targets[::-1]


async def measure(
    args: argparse.Namespace, api: client.ApiClient, targets: list[Target]
) -> dict[str, dict[str, Any]]:
    """Every figure of every target, phase by phase; within a phase the targets take
    turns, ``--rounds`` times, and each figure is the median of its rounds."""
    out: dict[str, dict[str, Any]] = {t.label: {} for t in targets}
    script = args.wrk_script
    # every client here shares one key, hence one rate-limit bucket (6000/min by
    # default); in production each node and each user has its own
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {KEY}"}) as s,
        s.put(
            f"{targets[0].base}/config",
            json={
                "security": {"max_requests_per_minute": 10_000_000},
                "websocket": {"max_connections": max(args.ws_clients) + 50},
            },
        ) as r,
    ):
        assert r.status == 200, await r.text()
    await asyncio.sleep(2)  # every API's cache has the settings
    for t in targets:
        await load(f"{t.base}/status", 20, 2)  # warm up
    for name, path, route in READS:
        runs: dict[str, list[dict[str, float]]] = {t.label: [] for t in targets}
        for rnd in range(args.rounds):
            for t in in_turn(targets, rnd):
                await load(t.base + path, 4, 1)  # rendered once before the clock runs
                before = await scrape(t.metrics_url)
                res = await wrk(t.base + path, args.seconds, args.concurrency, script)
                res |= handler_time(before, await scrape(t.metrics_url), route)
                runs[t.label].append(res)
        for t in targets:
            res = out[t.label][name] = median_of(runs[t.label])
            print(
                f"[{t.label}] {name:22s} p50={res['p50_ms']:7.2f}ms p99={res['p99_ms']:7.2f}ms "
                f"rps={res['rps']:8.1f} errors={res['errors']:.0f} handler "
                f"mean={res.get('handler_mean_ms', 0):.2f}ms "
                f"p99<={res.get('handler_p99_le_ms', 0):.1f}ms "
                f"(wrk -c{args.concurrency}, median of {args.rounds})",
                flush=True,
            )
    body = {"status": "active", "cpu_usage": 20.0, "memory_usage": 30.0, "load_score": 0.2}
    hb_runs: dict[str, list[dict[str, Any]]] = {t.label: [] for t in targets}
    for rnd in range(args.rounds):
        for t in in_turn(targets, rnd):
            urls = [f"{t.base}/nodes/node-{i:04d}/heartbeat" for i in range(args.nodes)]
            # one round first: a node's first heartbeat also writes its status, later
            # ones renew the Lease alone while nothing moved (sustained state)
            await load("", args.nodes, args.concurrency, "POST", body, urls)
            before_writes = await apiserver_writes(t.metrics_url)
            hb = await load("", args.heartbeats, args.concurrency, "POST", body, urls)
            after_writes = await apiserver_writes(t.metrics_url)
            # the reference right after, under the same conditions
            raw = await raw_lease_rate(api, args.nodes, args.heartbeats, args.concurrency)
            writes = {k: after_writes.get(k, 0.0) - before_writes.get(k, 0.0) for k in after_writes}
            writes = {k: v for k, v in writes.items() if v}
            hb_runs[t.label].append(
                {
                    **hb,
                    "raw_lease_rps": raw,
                    "ratio": hb["rps"] / raw,
                    "writes_per_heartbeat": sum(writes.values()) / max(1, args.heartbeats),
                    "writes_by_resource": writes,
                }
            )
    for t in targets:
        hb = out[t.label]["heartbeats"] = median_of(hb_runs[t.label])
        hb["writes_by_resource"] = hb_runs[t.label][-1]["writes_by_resource"]
        print(
            f"[{t.label}] heartbeats/s={hb['rps']:.1f} (p50={hb['p50_ms']:.1f}ms "
            f"p99={hb['p99_ms']:.1f}ms errors={hb['errors']:.0f}) raw lease "
            f"updates/s={hb['raw_lease_rps']:.1f} ratio={hb['ratio']:.2f} (medians of "
            f"{args.rounds}); API server writes per heartbeat="
            f"{hb['writes_per_heartbeat']:.2f} ({hb['writes_by_resource']})",
            flush=True,
        )
    for t in targets:
        out[t.label]["websocket"] = []
    for clients in args.ws_clients:
        for t in targets:
            ws = await websocket_fanout(
                t.base,
                t.ws_url,
                clients,
                args.ws_messages,
                args.ws_processes,
                f"ws-{t.label}-{clients}-",
            )
            print(
                f"[{t.label}] websocket {clients} clients task_submitted: "
                f"p50={ws['p50_ms']:.1f}ms p99={ws['p99_ms']:.1f}ms "
                f"delivered={ws['delivered']:.0f}/{ws['expected']:.0f} "
                f"closed_by_server={ws['closed_by_server']:.0f}",
                flush=True,
            )
            out[t.label]["websocket"].append({"clients": clients, **ws})
    for t in targets:
        out[t.label]["api_peak_rss_mib"] = peak_rss_mb(t.proc.pid)
        print(f"[{t.label}] API peak RSS={out[t.label]['api_peak_rss_mib']:.1f} MiB", flush=True)
    return out


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"nodes": args.nodes, "tasks": args.tasks}
    with ControlPlane() as plane:
        api = await api_client(str(plane.kubeconfig))
        targets: list[Target] = []
        try:
            await crds_mod.install(api, REPO / "crds")
            t0 = time.perf_counter()
            await populate(api, args.nodes, args.tasks)
            print(
                f"created {args.nodes} nodes and {args.tasks} tasks "
                f"in {time.perf_counter() - t0:.1f}s",
                flush=True,
            )
            if args.baseline:
                targets.append(
                    await start_target(args, str(plane.kubeconfig), args.baseline, "before")
                )
            targets.append(await start_target(args, str(plane.kubeconfig), REPO, "web4ai"))
            figures = await measure(args, api, targets)
            out |= figures["web4ai"]
            if args.baseline:
                out["before"] = figures["before"]
        finally:
            for t in targets:
                t.proc.terminate()
            for t in targets:
                t.proc.wait()
            await api.close()
    return out


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--nodes", type=int, default=1000)
    p.add_argument("--tasks", type=int, default=10000)
    p.add_argument("--seconds", type=float, default=5, help="wrk's duration per read and round")
    p.add_argument("--rounds", type=int, default=3, help="turns of each system per phase (medians)")
    p.add_argument("--heartbeats", type=int, default=3000)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--ws-clients", type=int, nargs="+", default=[100, 1000])
    p.add_argument("--ws-messages", type=int, default=40)
    p.add_argument("--ws-processes", type=int, default=2, help="processes of WebSocket clients")
    p.add_argument(
        "--baseline",
        type=Path,
        help="also measure the API from this checkout (e.g. `git archive main`), as "
        "before, back to back on the same control plane",
    )
    p.add_argument("--json", help="write the figures to this file")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        args.wrk_script = Path(tmp) / "auth.lua"
        args.wrk_script.write_text(WRK_SCRIPT.format(key=KEY))
        out = asyncio.run(main_async(args))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
