"""API benchmark: reads from the watch cache, heartbeats against raw Lease writes,
memory, and WebSocket fan-out.

    make bench-api          # or: python -m bench.api --nodes 1000 --tasks 10000

On one fresh local control plane: ``--nodes`` Web4AINodes (with Leases) and
``--tasks`` Web4AITasks are created straight in the API server, then the API
process starts and lists them. Measured in the same run:
  * GET /nodes, GET /status, GET /tasks?limit=50: p50/p99 latency and requests/s
    with ``--concurrency`` clients;
  * heartbeats/s through POST /nodes/{id}/heartbeat, against the raw Lease-update
    rate of the same API server with the same concurrency (ratio);
  * the API process's peak RSS (VmHWM);
  * ``--ws-clients`` WebSocket clients receiving ``task_submitted``: p99 delay
    from just before the POST to the message's arrival.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import websockets
from kubernetes_asyncio import client

from bench.common import bounded, create_node, percentile
from devtools.localcluster.controlplane import ControlPlane, die_with_parent
from devtools.localcluster.ports import free_port
from web4ai.core.ids import node_lease_name
from web4ai.k8s import crds as crds_mod
from web4ai.k8s.client import api_client
from web4ai.k8s.resources import GROUP, TASKS, VERSION, format_time

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
    kubeconfig: str, port: int, metrics_port: int, ws_port: int | None = None
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
        env={**os.environ, "PYTHONPATH": str(REPO), "WEB4AI_API_KEY": KEY},
        preexec_fn=die_with_parent,
    )


async def populate(api: client.ApiClient, nodes: int, tasks: int) -> None:
    await client.CoreV1Api(api).create_namespace({"metadata": {"name": NS}})
    co = client.CustomObjectsApi(api)
    await asyncio.sleep(1)
    await co.create_namespaced_custom_object(
        GROUP,
        VERSION,
        NS,
        "web4aiorchestrators",
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Web4AIOrchestrator",
            "metadata": {"name": "web4ai"},
            "spec": {},
        },
    )

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
            TASKS,
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


async def websocket_fanout(base: str, ws: str, clients: int, messages: int) -> dict[str, float]:
    auth = {"Authorization": f"Bearer {KEY}"}
    conns = [
        await websockets.connect(ws, max_size=2**22, additional_headers=auth)
        for _ in range(clients)
    ]
    for c in conns:
        await c.recv()  # initial_status
    sent: dict[str, float] = {}
    delays: list[float] = []
    done = asyncio.Event()
    expected = clients * messages

    async def reader(c: Any) -> None:
        async for raw in c:
            msg = json.loads(raw)
            if msg["type"] == "task_submitted" and msg["data"]["task_id"] in sent:
                delays.append(time.perf_counter() - sent[msg["data"]["task_id"]])
                if len(delays) >= expected:
                    done.set()

    readers = [asyncio.create_task(reader(c)) for c in conns]
    headers = {"Authorization": f"Bearer {KEY}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        for i in range(messages):
            task_id = f"ws-{i:04d}"
            sent[task_id] = time.perf_counter()
            async with session.post(
                f"{base}/tasks", json={"task_id": task_id, "task_type": "test_task"}
            ) as r:
                await r.read()
            await asyncio.sleep(0.02)
    try:
        await asyncio.wait_for(done.wait(), 60)
    except TimeoutError:
        pass  # report what arrived
    finally:
        for t in readers:
            t.cancel()
        closed = sum(1 for c in conns if c.close_code is not None)
        for c in conns:
            await c.close()
    return {
        "p50_ms": statistics.median(delays) * 1000 if delays else float("nan"),
        "p99_ms": percentile(delays, 0.99) * 1000 if delays else float("nan"),
        "delivered": len(delays),
        "expected": expected,
        "closed_by_server": closed,
    }


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


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"nodes": args.nodes, "tasks": args.tasks}
    with ControlPlane() as plane:
        api = await api_client(str(plane.kubeconfig))
        await crds_mod.install(api, REPO / "crds")
        t0 = time.perf_counter()
        await populate(api, args.nodes, args.tasks)
        print(
            f"created {args.nodes} nodes and {args.tasks} tasks in {time.perf_counter() - t0:.1f}s",
            flush=True,
        )
        port, ws_port, metrics_port = free_port(), free_port(), free_port()
        proc = start_api(str(plane.kubeconfig), port, metrics_port, ws_port)
        base = f"http://127.0.0.1:{port}/api/v1"
        try:
            t0 = time.perf_counter()
            await wait_ready(base)
            print(f"API ready (cache synced) in {time.perf_counter() - t0:.1f}s", flush=True)
            await load(f"{base}/status", 20, 2)  # warm up
            for name, path in (
                ("GET /nodes", "/nodes"),
                ("GET /status", "/status"),
                ("GET /tasks?limit=50", "/tasks?limit=50"),
            ):
                res = await load(base + path, args.requests, args.concurrency)
                out[name] = res
                print(
                    f"{name:22s} p50={res['p50_ms']:7.1f}ms p99={res['p99_ms']:7.1f}ms "
                    f"rps={res['rps']:7.1f} errors={res['errors']:.0f}",
                    flush=True,
                )
            urls = [f"{base}/nodes/node-{i:04d}/heartbeat" for i in range(args.nodes)]
            body = {"status": "active", "cpu_usage": 20.0, "memory_usage": 30.0, "load_score": 0.2}
            # one round first: a node's first heartbeat also writes its status, later
            # ones renew the Lease alone while nothing moved (sustained state)
            await load("", args.nodes, args.concurrency, "POST", body, urls)
            metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
            before = await apiserver_writes(metrics_url)
            hb = await load("", args.heartbeats, args.concurrency, "POST", body, urls)
            after = await apiserver_writes(metrics_url)
            writes = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
            writes = {k: v for k, v in writes.items() if v}
            per_heartbeat = sum(writes.values()) / max(1, args.heartbeats)
            print(
                f"API server writes per heartbeat={per_heartbeat:.2f} "
                f"(by resource over {args.heartbeats}: {writes})",
                flush=True,
            )
            raw = await raw_lease_rate(api, args.nodes, args.heartbeats, args.concurrency)
            out["heartbeats"] = {
                **hb,
                "raw_lease_rps": raw,
                "ratio": hb["rps"] / raw,
                "writes_per_heartbeat": per_heartbeat,
                "writes_by_resource": writes,
            }
            print(
                f"heartbeats/s={hb['rps']:.1f} (p50={hb['p50_ms']:.1f}ms "
                f"p99={hb['p99_ms']:.1f}ms errors={hb['errors']:.0f}) raw lease "
                f"updates/s={raw:.1f} ratio={hb['rps'] / raw:.2f}",
                flush=True,
            )
            ws = await websocket_fanout(
                base, f"ws://127.0.0.1:{ws_port}", args.ws_clients, args.ws_messages
            )
            print(
                f"websocket {args.ws_clients} clients task_submitted: "
                f"p50={ws['p50_ms']:.1f}ms p99={ws['p99_ms']:.1f}ms "
                f"delivered={ws['delivered']:.0f}/{ws['expected']:.0f} "
                f"closed_by_server={ws['closed_by_server']:.0f}",
                flush=True,
            )
            out["websocket"] = {"clients": args.ws_clients, **ws}
            out["api_peak_rss_mib"] = peak_rss_mb(proc.pid)
            print(f"API peak RSS={out['api_peak_rss_mib']:.1f} MiB", flush=True)
        finally:
            proc.terminate()
            proc.wait()
            await api.close()
    return out


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--nodes", type=int, default=1000)
    p.add_argument("--tasks", type=int, default=10000)
    p.add_argument("--requests", type=int, default=500)
    p.add_argument("--heartbeats", type=int, default=3000)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--ws-clients", type=int, default=100)
    p.add_argument("--ws-messages", type=int, default=50)
    p.add_argument("--json", help="write the figures to this file")
    args = p.parse_args()
    out = asyncio.run(main_async(args))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
