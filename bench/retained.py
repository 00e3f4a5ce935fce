"""The retained phase of ``bench.scale``: 100,000 retained tasks (1 KiB inputs).

    python -m bench.scale --phases retained --retained 100000 [--baseline DIR]

On the local control plane, one namespace holds ``--retained`` tasks made once for all
systems: most finished (their status written as a node's result leaves it: completed,
or 1 in 25 failed with an error, with result, metrics, attempts and a condition), 1 in
100 pending that fit no node (they need ``gpu``), and 10 live nodes with ``cpu``. The
orchestrator's ``max_retained_tasks`` and ``task_retention`` are set high enough that
retention deletes none. Then per system (``--baseline DIR``'s first, as the other
phases):

  * memory: the API's and the operator's RSS with an empty namespace, then with the
    store (once both are synced, after the reads below), kube-apiserver's and etcd's
    RSS and etcd's database size; per task: (RSS - empty RSS) / tasks;
  * reads: ``/tasks?limit=50`` at offset 0 and deep (~90 % of the tasks), with and
    without a status filter, and ``/status``, from a process of its own
    (``--load``): per read the first request (rendered from the store), then
    ``--requests`` / 2 sequential and ``--requests`` / 2 eight at a time; p50 / p99;
  * cold start: probe tasks that fit (``cpu``) exist when the operator starts: the
    time from its start to the first binding;
  * failover: a standby starts and syncs, the leader is SIGKILLed, new probes are
    created: the time from the kill to the standby's first binding.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil
from kubernetes_asyncio import client

from bench.common import bounded, create_node, create_orchestrator, percentile
from bench.operator_start import start_operator, stop, synced
from bench.scale import INPUT, start_api
from devtools.localcluster.controlplane import ControlPlane, die_with_parent
from devtools.localcluster.ports import free_port
from web4ai.core.bodies import format_time
from web4ai.core.resources import GROUP, TASKS, VERSION

REPO = Path(__file__).resolve().parents[1]
NS = "retained"
EMPTY = "retained-empty"
NODES = 10
PROBES = 5
PROBE_LABEL = "web4ai.io/bench-probe"
RESULT = {"output": "y" * 256}


@dataclass
class Retained:
    system: str
    tasks: int
    pending: int
    failed: int
    api_rss_mib: float
    operator_rss_mib: float
    api_empty_rss_mib: float
    operator_empty_rss_mib: float
    apiserver_rss_mib: float
    etcd_rss_mib: float
    etcd_db_mib: float
    api_synced_s: float  # API start -> /health 200 (its informers listed)
    cold_start_s: float  # operator start -> first binding of a probe
    failover_s: float  # leader SIGKILL -> the standby's first binding
    reads: dict[str, dict[str, float]] = field(default_factory=dict)

    def per_task_kib(self, process: str) -> float:
        full: float = getattr(self, f"{process}_rss_mib")
        empty: float = getattr(self, f"{process}_empty_rss_mib")
        return 1024 * (full - empty) / max(1, self.tasks)

    def row(self) -> str:
        reads = ", ".join(
            f"{name} p99 {r['p99_ms']:.1f} ms (first {r['first_ms']:.0f})"
            for name, r in self.reads.items()
        )
        return (
            f"{self.system:14s} {self.tasks} retained tasks: RSS API {self.api_rss_mib:.0f} MiB "
            f"({self.per_task_kib('api'):.2f} KiB/task) operator {self.operator_rss_mib:.0f} MiB "
            f"({self.per_task_kib('operator'):.2f} KiB/task), kube-apiserver "
            f"{self.apiserver_rss_mib:.0f} MiB, etcd {self.etcd_rss_mib:.0f} MiB (db "
            f"{self.etcd_db_mib:.0f} MiB); API synced {self.api_synced_s:.1f}s; cold start "
            f"{self.cold_start_s:.1f}s; failover {self.failover_s:.1f}s; {reads}"
        )


def rss_mib(pid: int) -> float:
    return float(psutil.Process(pid).memory_info().rss) / 2**20


def finished_status(i: int, now: str) -> dict[str, Any]:
    """The status a node's result leaves: completed, or failed (1 in 25) with its error."""
    node = f"node-{i % NODES}"
    failed = i % 25 == 0
    attempt = {
        "nodeId": node,
        "agentId": f"{node}-agent-0",
        "assignedAt": now,
        "startedAt": now,
        "finishedAt": now,
        "outcome": "failed" if failed else "completed",
    }
    status: dict[str, Any] = {
        "status": "failed" if failed else "completed",
        "phase": "failed" if failed else "completed",
        "nodeId": node,
        "agentId": attempt["agentId"],
        "assignedNodes": [node],
        "retryCount": 0,
        "assignedAt": now,
        "startedAt": now,
        "completedAt": now,
        "executionTime": 0.42,
        "performanceMetrics": {"tokens": 128, "latency_ms": 420},
        "conditions": [
            {
                "type": "Scheduled",
                "status": "True",
                "reason": "Assigned",
                "message": f"assigned to {node}",
                "lastTransitionTime": now,
            }
        ],
    }
    if failed:
        error = "the node reported a failure: model returned an error " + "e" * 64
        attempt["errorMessage"] = error
        status["errorMessage"] = error
    else:
        status["result"] = RESULT
    status["attempts"] = [attempt]
    return {"status": status}


def task_object(name: str, needs: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Web4AITask",
        "metadata": {"name": name, "labels": {"web4ai.io/task-id": name, **(labels or {})}},
        "spec": {
            "taskId": name,
            "taskType": "noop",
            "submittedAt": format_time(time.time()),
            "inputData": INPUT,
            "requirements": {"capabilities": [needs]},
        },
    }


class Raw:
    """Creates and status writes over keep-alive connections, JSON as is (the bench
    makes ~2 writes per task; the Kubernetes client's models would cost more CPU than
    the API server's work)."""

    def __init__(self, plane: ControlPlane, ns: str, concurrency: int) -> None:
        ctx: ssl.SSLContext = plane.ssl_context()
        self.base = f"{plane.server}/apis/{GROUP}/{VERSION}/namespaces/{ns}/{TASKS.plural}"
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=concurrency, ssl=ctx)
        )

    async def call(self, method: str, url: str, body: Any, content_type: str) -> Any:
        for _ in range(20):
            async with self.session.request(
                method, url, data=json.dumps(body), headers={"Content-Type": content_type}
            ) as r:
                if r.status in (200, 201):
                    return await r.json()
                if r.status == 409 and method == "POST":
                    return None  # made by an earlier try
                if r.status not in (429, 500, 503, 504):
                    raise RuntimeError(f"{method} {url}: {r.status} {(await r.text())[:200]}")
            await asyncio.sleep(0.5)
        raise RuntimeError(f"{method} {url}: gave up")

    async def create(self, body: dict[str, Any]) -> None:
        await self.call("POST", self.base, body, "application/json")

    async def status(self, name: str, status: dict[str, Any]) -> None:
        url = f"{self.base}/{name}/status"
        await self.call("PATCH", url, status, "application/merge-patch+json")

    async def first_bound(self, selector: str) -> float:
        """When a task with the label ``selector`` is first seen bound (a watch, so that
        the API server does not scan every task for each look)."""
        url = f"{self.base}?watch=1&labelSelector={selector}&resourceVersion=0"
        timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
        async with self.session.get(url, timeout=timeout) as r:
            async for line in r.content:
                if line.strip():
                    obj = json.loads(line).get("object") or {}
                    if (obj.get("status") or {}).get("nodeId"):
                        return time.monotonic()
        raise RuntimeError(f"the watch of {selector} ended")

    async def close(self) -> None:
        await self.session.close()


async def namespace(api: client.ApiClient, ns: str) -> None:
    await client.CoreV1Api(api).create_namespace({"metadata": {"name": ns}})
    co = client.CustomObjectsApi(api)
    for _ in range(100):  # the new namespace's watch cache may still be starting
        try:
            await co.list_namespaced_custom_object(GROUP, VERSION, ns, TASKS.plural, limit=1)
            break
        except client.exceptions.ApiException:
            await asyncio.sleep(0.1)
    spec = {
        "orchestrator": {
            "heartbeatInterval": 3600,  # the nodes made here never beat: live for 3 h
            "maxRetainedTasks": 10_000_000,
            "taskRetention": 10 * 365 * 86400,
        },
        "network": {"maxNodes": 1_000_000},
        "security": {"maxRequestsPerMinute": 10_000_000},
    }
    await create_orchestrator(api, ns, spec)
    node = {"host": "127.0.0.1", "agentsCount": 8, "capabilities": ["cpu"]}
    await bounded(8, [create_node(api, ns, f"node-{i}", node, {}, 3600) for i in range(NODES)])


async def populate(plane: ControlPlane, api: client.ApiClient, args: argparse.Namespace) -> None:
    """The retained store: ``--retained`` tasks, most finished, 1 in 100 unschedulable."""
    await namespace(api, NS)
    await namespace(api, EMPTY)
    raw = Raw(plane, NS, args.concurrency)
    t0, done = time.monotonic(), 0
    now = format_time(time.time())

    async def one(i: int) -> None:
        nonlocal done
        name = f"r-{i:06d}"
        pending = i % 100 == 1
        await raw.create(task_object(name, "gpu" if pending else "cpu"))
        if not pending:
            await raw.status(name, finished_status(i, now))
        done += 1
        if done % 5000 == 0:
            rate = done / (time.monotonic() - t0)
            print(f"  retained: {done}/{args.retained} tasks ({rate:.0f}/s)", flush=True)

    try:
        await bounded(args.concurrency, [one(i) for i in range(args.retained)])
    finally:
        await raw.close()
    print(f"  retained: {args.retained} tasks in {time.monotonic() - t0:.0f}s", flush=True)


async def wait_until(probe: Any, within: float, what: str, every: float = 0.1) -> float:
    """Poll the (async or not) ``probe`` until true; returns when it became true."""
    deadline = time.monotonic() + within
    while True:
        value = probe()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return time.monotonic()
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(every)


async def healthy(url: str) -> bool:
    try:
        async with (
            aiohttp.ClientSession() as s,
            s.get(f"{url}/health", timeout=aiohttp.ClientTimeout(total=2)) as r,
        ):
            return r.status == 200
    except (aiohttp.ClientError, TimeoutError):
        return False


async def probes(raw: Raw, tag: str) -> str:
    """``PROBES`` tasks that fit, labelled ``tag``; returns their label selector."""
    await bounded(
        PROBES,
        [raw.create(task_object(f"{tag}-{i}", "cpu", {PROBE_LABEL: tag})) for i in range(PROBES)],
    )
    return f"{PROBE_LABEL}={tag}"


async def finish_probes(raw: Raw, tags: list[str]) -> None:
    """The round's probes finished, so the next system finds the same store and room."""
    now = format_time(time.time())
    await bounded(
        PROBES,
        [raw.status(f"{tag}-{i}", finished_status(1, now)) for tag in tags for i in range(PROBES)],
    )


async def empty_rss(kubeconfig: str, repo: Path, within: float) -> tuple[float, float]:
    """The API's and the operator's RSS with an empty namespace (what is not per task)."""
    key = "w4a_bench_" + os.urandom(12).hex()
    port, live = free_port(), free_port()
    server = start_api(kubeconfig, EMPTY, repo, port, key)
    operator = start_operator(kubeconfig, EMPTY, repo, live)
    try:
        url = f"http://127.0.0.1:{port}/api/v1"
        await wait_until(lambda: healthy(url), within, "the API never synced", 0.5)
        await wait_until(lambda: synced(live), within, "the operator never synced", 0.5)
        await asyncio.sleep(5)
        return rss_mib(server.pid), rss_mib(operator.pid)
    finally:
        stop(operator)
        stop(server)


def start_load(url: str, key: str, reads: dict[str, str], requests: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "bench.retained", "--load", url, "--key", key),
            *("--requests", str(requests), "--reads", json.dumps(reads)),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        preexec_fn=die_with_parent,
    )


def read_paths(tasks: int) -> dict[str, str]:
    deep = int(0.9 * tasks)
    return {
        "/tasks?limit=50": "/tasks?limit=50",
        f"/tasks?limit=50&offset={deep}": f"/tasks?limit=50&offset={deep}",
        "/tasks?status=completed&limit=50": "/tasks?status=completed&limit=50",
        f"/tasks?status=completed&limit=50&offset={deep}": (
            f"/tasks?status=completed&limit=50&offset={deep}"
        ),
        "/tasks?status=failed&limit=50": "/tasks?status=failed&limit=50",
        "/tasks?status=pending&limit=50": "/tasks?status=pending&limit=50",
        "/status": "/status",
    }


def plane_rss(plane: ControlPlane) -> tuple[float, float, float]:
    """kube-apiserver's and etcd's RSS, and etcd's database size, in MiB."""
    by_name = {psutil.Process(pid).name(): pid for pid in plane.pids}
    db = plane.workdir / "etcd" / "member" / "snap" / "db"
    size = db.stat().st_size / 2**20 if db.exists() else 0.0
    return rss_mib(by_name["kube-apiserver"]), rss_mib(by_name["etcd"]), size


async def retained_round(
    plane: ControlPlane, api: client.ApiClient, system: str, repo: Path, args: argparse.Namespace
) -> Retained:
    kubeconfig = str(plane.kubeconfig)
    api_empty, operator_empty = await empty_rss(kubeconfig, repo, args.timeout)
    raw = Raw(plane, NS, 16)
    cold_tag, failover_tag = f"{system}-cold", f"{system}-failover"
    key = "w4a_bench_" + os.urandom(12).hex()
    port, a_live, b_live = free_port(), free_port(), free_port()
    url = f"http://127.0.0.1:{port}/api/v1"
    b: subprocess.Popen[bytes] | None = None
    try:
        watch = asyncio.ensure_future(raw.first_bound(await probes(raw, cold_tag)))
        started = time.monotonic()
        server = start_api(kubeconfig, NS, repo, port, key)
        a = start_operator(kubeconfig, NS, repo, a_live)
        ready = asyncio.ensure_future(wait_until(lambda: healthy(url), args.timeout, "API", 0.2))
        try:
            cold = await asyncio.wait_for(watch, args.timeout) - started
            api_synced = await ready
            await wait_until(lambda: synced(a_live), args.timeout, "operator never synced", 0.5)
            print(f"  {system}: first binding {cold:.1f}s, API synced", flush=True)
            await asyncio.sleep(args.settle)
            load = start_load(url, key, read_paths(args.retained), args.requests)
            out, _ = await asyncio.to_thread(load.communicate)
            reads = json.loads(out.strip().splitlines()[-1])
            api_rss, operator_rss = rss_mib(server.pid), rss_mib(a.pid)
            apiserver, etcd, db = plane_rss(plane)
            b = start_operator(kubeconfig, NS, repo, b_live)
            await wait_until(lambda: synced(b_live), args.timeout, "standby never synced", 0.5)
            await asyncio.sleep(5)  # A renews its Lease; B has watched it a while
            watch = asyncio.ensure_future(raw.first_bound(f"{PROBE_LABEL}={failover_tag}"))
            killed = time.monotonic()
            a.send_signal(signal.SIGKILL)
            await probes(raw, failover_tag)
            failover = await asyncio.wait_for(watch, args.timeout)
            return Retained(
                system,
                args.retained,
                len(range(1, args.retained, 100)),
                len(range(0, args.retained, 25)),
                api_rss,
                operator_rss,
                api_empty,
                operator_empty,
                apiserver,
                etcd,
                db,
                api_synced - started,
                cold,
                failover - killed,
                reads,
            )
        finally:
            for job in (watch, ready):
                job.cancel()
            stop(a)
            if b is not None:
                stop(b)
            stop(server)
    finally:
        await finish_probes(raw, [cold_tag, failover_tag])
        await raw.close()


async def load(url: str, key: str, reads: dict[str, str], requests: int) -> dict[str, Any]:
    """Each read: one request alone (rendered from the store), then ``requests`` / 2 in
    a row and ``requests`` / 2 eight at a time; latencies in ms."""
    headers = {"Authorization": f"Bearer {key}"}
    out: dict[str, Any] = {}
    async with aiohttp.ClientSession(
        headers=headers, connector=aiohttp.TCPConnector(limit=8)
    ) as http:

        async def one(path: str, into: list[float]) -> None:
            t0 = time.perf_counter()
            async with http.get(url + path) as r:
                await r.read()
                if r.status != 200:
                    raise RuntimeError(f"{path}: {r.status}")
            into.append(1000 * (time.perf_counter() - t0))

        for name, path in reads.items():
            first: list[float] = []
            await one(path, first)
            times: list[float] = []
            for _ in range(requests // 2):
                await one(path, times)
            await bounded(8, [one(path, times) for _ in range(requests // 2)])
            out[name] = {
                "first_ms": first[0],
                "p50_ms": percentile(times, 0.5),
                "p99_ms": percentile([*first, *times], 0.99),
                "count": len(times) + 1,
            }
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--retained", type=int, default=100_000, help="retained tasks (1 KiB inputs)")
    p.add_argument("--requests", type=int, default=2000, help="requests per read (retained)")
    p.add_argument("--reads", help=argparse.SUPPRESS)
    p.add_argument("--load", metavar="URL", help=argparse.SUPPRESS)


def main() -> None:
    """The load process (``--load URL``): one JSON line of figures per read."""
    p = argparse.ArgumentParser()
    add_arguments(p)
    p.add_argument("--key", required=True)
    args = p.parse_args()
    figures = asyncio.run(load(args.load, args.key, json.loads(args.reads), args.requests))
    print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
