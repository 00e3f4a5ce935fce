"""Helpers shared by the benchmarks."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import psutil
from kubernetes_asyncio import client

from web4ai.core.bodies import NODE_FINALIZER, ORCHESTRATOR_NAME, format_time
from web4ai.core.ids import IdKind, identity, node_lease_name
from web4ai.core.resources import GROUP, NODES, ORCHESTRATORS, VERSION


def cpu_seconds(pid: int) -> float:
    """The process's CPU time so far (user + system)."""
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def task_body(name: str) -> dict[str, Any]:
    """A no-op Web4AITask as a client would create it (status left to the operator)."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Web4AITask",
        "metadata": {"name": name, "labels": {"web4ai.io/task-id": name}},
        "spec": {"taskId": name, "taskType": "noop", "submittedAt": format_time(time.time())},
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def bounded(concurrency: int, coros: list[Any]) -> None:
    """Await the coroutines, at most ``concurrency`` at a time."""
    sem = asyncio.Semaphore(concurrency)

    async def run(c: Any) -> None:
        async with sem:
            await c

    await asyncio.gather(*(run(c) for c in coros))


async def create_orchestrator(api: client.ApiClient, ns: str, spec: dict[str, Any]) -> None:
    """The singleton Web4AIOrchestrator of ``ns`` with ``spec`` (the CRD's defaults fill
    in the rest)."""
    await client.CustomObjectsApi(api).create_namespaced_custom_object(
        GROUP,
        VERSION,
        ns,
        ORCHESTRATORS.plural,
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Web4AIOrchestrator",
            "metadata": {"name": ORCHESTRATOR_NAME},
            "spec": spec,
        },
    )


async def create_node(
    api: Any,
    ns: str,
    node_id: str,
    spec: dict[str, Any],
    status: dict[str, Any],
    lease_seconds: int,
) -> None:
    """A registered node as the API makes it: the object, its status and its Lease."""
    ident = identity(IdKind.NODE, node_id)
    co = client.CustomObjectsApi(api)
    await co.create_namespaced_custom_object(
        GROUP,
        VERSION,
        ns,
        NODES.plural,
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Web4AINode",
            "metadata": {
                "name": ident.name,
                "labels": ident.labels,
                "finalizers": [NODE_FINALIZER],
            },
            "spec": {"nodeId": node_id, **spec},
        },
    )
    now = format_time(time.time())
    await co.patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        ns,
        NODES.plural,
        ident.name,
        {"status": {"status": "active", "lastHeartbeat": now, **status}},
        _content_type="application/merge-patch+json",
    )
    await client.CoordinationV1Api(api).create_namespaced_lease(
        ns,
        {
            "metadata": {"name": node_lease_name(ident.name), "labels": ident.labels},
            "spec": {
                "holderIdentity": node_id,
                "renewTime": now,
                "leaseDurationSeconds": lease_seconds,
            },
        },
    )


def profiled(env: dict[str, str], out: Path | None, name: str) -> dict[str, str]:
    """``env`` for a process that runs under cProfile (bench/profiled/sitecustomize.py)
    and writes its stats to ``out/name.prof`` on exit; ``env`` itself when ``out`` is None."""
    if out is None:
        return env
    here = str(Path(__file__).resolve().parent / "profiled")
    path = os.pathsep.join(p for p in (here, env.get("PYTHONPATH", "")) if p)
    return {**env, "PYTHONPATH": path, "BENCH_CPROFILE": str(out / f"{name}.prof")}
