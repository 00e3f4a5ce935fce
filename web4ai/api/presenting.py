"""The documented response shapes, computed from the watch cache (no API calls). A
task and a node each through its typed view (``web4ai.core.schemas.public``), with what
the watch cache adds to a node (its last sign of life, its tasks)."""

from __future__ import annotations

import json
from typing import Any, cast

from web4ai.core import bodies
from web4ai.core.config import Settings
from web4ai.core.crs import (
    NodeBody,
    OrchestratorStatus,
    TaskBody,
)
from web4ai.core.model import NodeStatus, TaskPhase
from web4ai.core.nodetotals import NodeTotals
from web4ai.core.recommending import recommendations as compute_recommendations
from web4ai.core.scheduling import SCHEDULABLE, wrr_weight
from web4ai.core.schemas import public
from web4ai.k8s.cache import ClusterState

Doc = dict[str, Any]  # a JSON document as the API answers it

TASK_GROUPS = ("pending", "active", "completed", "failed")
TASK_PHASES = tuple(p.value for p in TaskPhase)


def group_of(body: TaskBody) -> str:
    return bodies.task_status(body).value


def node_public(
    body: NodeBody, state: ClusterState, *, detailed: bool = False, running: int | None = None
) -> Doc:
    """A node as the API shows it (``public.node_public``), its last sign of life and
    its tasks from the watch cache: with ``running`` as GET /nodes lists it, ``detailed``
    as GET /nodes/{id} shows it."""
    tasks = None
    if detailed:
        tasks = state.tasks_on(bodies.node_id(body))
    shown = public.node_public(body, state.lease_renewed(body), running=running, tasks=tasks)
    return cast(Doc, shown)


def node_models(body: NodeBody) -> Doc:
    """``node_models_changed``'s data (``public.node_models``)."""
    return cast(Doc, public.node_models(body))


def network_summary(state: ClusterState, totals: NodeTotals, now: float) -> Doc:
    """The numbers /status, /metrics, /metrics/performance and the WebSocket share: the
    nodes' from ``totals`` (kept as they change), the tasks' from the cache's counts."""
    groups = {status.value: n for status, n in state.task_counts().items()}
    orch = state.orchestrator()
    history: OrchestratorStatus = bodies.status_of(orch) if orch is not None else {}
    completed = groups.get("completed", 0) + int(history.get("tasksCompletedTotal", 0))
    failed = groups.get("failed", 0) + int(history.get("tasksFailedTotal", 0))
    mean_exec = state.mean_execution_time()
    t = totals
    agents = dict(t.agents_by_node)
    return {
        "total_nodes": sum(t.by_status.values()),
        "active_nodes": t.by_status["active"],
        "by_status": {s.value: t.by_status[s.value] for s in NodeStatus},
        "total_agents": sum(agents.values()),
        "agents_by_node": agents,
        "tasks": {g: groups.get(g, 0) for g in TASK_GROUPS},
        "tasks_completed": completed,
        "tasks_failed": failed,
        "success_rate": round(completed / (completed + failed), 4) if completed + failed else 1.0,
        "average_response_time": round(mean_exec * 1000, 2) if mean_exec is not None else 0.0,
        "network_utilization": round(groups.get("active", 0) / t.capacity, 4)
        if t.capacity
        else 0.0,
        "throughput_per_minute": float(state.finished_since(now - 60)),
        "avg_cpu_usage": t.mean(t.cpu, t.live, 2),
        "avg_memory_usage": t.mean(t.memory, t.live, 2),
        "avg_load_score": t.mean(t.load, t.live, 4),
        "avg_network_latency": t.mean(t.latency, t.latencies, 2),
    }


NETWORK_METRICS = (
    "total_nodes",
    "active_nodes",
    "total_agents",
    "tasks_completed",
    "tasks_failed",
    "average_response_time",
    "network_utilization",
    "throughput_per_minute",
    "success_rate",
)


def network_metrics(summary: Doc) -> Doc:
    """The documented ``network_metrics`` block of /status (and /metrics' ``network``)."""
    return {k: summary[k] for k in NETWORK_METRICS}


def heartbeat_doc(state: ClusterState) -> Doc:
    """The interval nodes are told now, and what it comes from (a documented addition)."""
    settings = state.settings()
    return {
        "interval": state.heartbeat_interval(),
        "min_interval": state.min_heartbeat_interval(),
        "heartbeat_interval": settings.heartbeat_interval,
        "max_heartbeats_per_second": settings.max_heartbeats_per_second,
        "live_nodes": state.live_nodes(),
    }


def status_document(
    state: ClusterState,
    orchestrator_id: str,
    now: float,
    uptime: float,
    api_stats: Doc,
    s: Doc,
) -> Doc:
    """The /status document around a ``network_summary`` ``s``."""
    settings = state.settings()
    orch = state.orchestrator()
    probes = (bodies.status_of(orch).get("discovery") if orch is not None else None) or []
    return {
        "success": True,
        "data": {
            "orchestrator_id": orchestrator_id,
            "timestamp": now,
            "uptime": round(uptime, 2),
            "paused": state.settings().paused,
            "heartbeats": heartbeat_doc(state),
            "network_metrics": network_metrics(s),
            "nodes": {
                "total": s["total_nodes"],
                "active": s["active_nodes"],
                "by_status": s["by_status"],
            },
            "agents": {"total": s["total_agents"], "by_node": s["agents_by_node"]},
            "tasks": {**s["tasks"], "completed": s["tasks_completed"], "failed": s["tasks_failed"]},
            "discovery": {
                "enabled": settings.auto_discovery,
                "endpoints": [
                    {
                        "endpoint": p.get("endpoint"),
                        "state": p.get("state"),
                        "node_id": p.get("nodeId"),
                        "message": p.get("message"),
                        "last_probe": bodies.parse_time(p.get("lastProbeTime")),
                    }
                    for p in probes
                ],
            },
            "performance": {
                "avg_cpu_usage": s["avg_cpu_usage"],
                "avg_memory_usage": s["avg_memory_usage"],
                "avg_network_latency": s["avg_network_latency"],
                "network_utilization": s["network_utilization"],
            },
        },
        "api_stats": api_stats,
    }


def status_parts(document: Doc) -> tuple[bytes, bytes]:
    """A ``status_document`` as the JSON before its ``timestamp`` value and between its
    ``uptime`` value and its ``api_stats`` value: the parts that change only with the
    stores, around the clock and the request counters (filled per request)."""
    data = dict(document["data"])
    head = {"success": document["success"], "data": {"orchestrator_id": data["orchestrator_id"]}}
    for key in ("orchestrator_id", "timestamp", "uptime"):
        del data[key]
    head_json = json.dumps(head)[: -len("}}")]
    rest = json.dumps(data)[1:-1]
    return (
        (head_json + ', "timestamp": ').encode(),
        (", " + rest + '}, "api_stats": ').encode(),
    )


def node_weights(state: ClusterState) -> dict[str, float]:
    counts = state.bound_counts()
    weights = {}
    for body in state.nodes_by_name.values():
        node = bodies.node_from_body(body, counts[bodies.node_id(body)])
        if node.status in SCHEDULABLE:
            weights[node.node_id] = wrr_weight(node) / 100
    return weights


def recommendations(state: ClusterState, settings: Settings, summary: Doc) -> list[Doc]:
    """Advice from the nodes' real metrics against the configured targets; none while
    ``performance.monitoring_enabled`` is off."""
    if not settings.monitoring_enabled:
        return []
    return compute_recommendations(
        list(state.node_views().values()),
        settings.thresholds,
        settings.targets,
        avg_response_ms=summary["average_response_time"],
        utilization=summary["network_utilization"],
    )


def task_entry(body: TaskBody) -> Doc:
    """A task in the GET /tasks listing, shaped by its group as documented."""
    full = public.task_public(body)
    group = group_of(body)
    keys = {
        "pending": (
            "task_id",
            "task_type",
            "status",
            "phase",
            "priority",
            "created_at",
            "timeout",
            "retry_count",
        ),
        "active": (
            "task_id",
            "task_type",
            "priority",
            "status",
            "phase",
            "assigned_nodes",
            "node_id",
            "created_at",
            "assigned_at",
            "timeout",
        ),
        "completed": (
            "task_id",
            "task_type",
            "status",
            "phase",
            "execution_time",
            "node_id",
            "created_at",
            "completed_at",
        ),
        "failed": (
            "task_id",
            "task_type",
            "status",
            "phase",
            "error_message",
            "node_id",
            "retry_count",
            "created_at",
            "completed_at",
        ),
    }[group]
    out = {k: full.get(k) for k in keys}
    if group == "active" and full.get("progress"):
        out["progress"] = full["progress"]  # documented addition
    return out


def task_listing(
    state: ClusterState, status: str | None, limit: int, offset: int, phase: str | None = None
) -> Doc:
    """Always the four documented buckets and the summary counts; a ``status`` filter
    leaves the other buckets empty, a ``phase`` filter keeps only that phase. Pending
    tasks in queue order, the others newest first (``web4ai.core.listorder``: a page is
    a slice of the order kept as tasks change)."""
    order, store = state.list_order, state.tasks_by_name
    tasks: Doc = {g: [] for g in TASK_GROUPS}
    for group in TASK_GROUPS if status is None else (status,):
        tasks[group] = [task_entry(store[n]) for n in order.page(group, phase, offset, limit)]
    return {
        "success": True,
        "tasks": tasks,
        "summary": {f"{g}_count": order.count(g) for g in TASK_GROUPS},
        "limit": limit,
        "offset": offset,
    }
