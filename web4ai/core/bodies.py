"""Reading Web4AINode / Web4AITask / Web4AIOrchestrator bodies (``web4ai.core.crs``):
names, times, the status and phase words, and the core model (``web4ai.core.model``)
they stand for. Pure functions over dicts; no I/O."""

from __future__ import annotations

import datetime as dt
from typing import cast, overload

from web4ai.core.crs import (
    AnyBody,
    Body,
    Draining,
    NodeBody,
    NodeStatusBody,
    OrchestratorBody,
    OrchestratorStatus,
    TaskBody,
    TaskStatusBody,
)
from web4ai.core.defaults import NODE_SPEC_DEFAULTS as NODE
from web4ai.core.defaults import TASK_SPEC_DEFAULTS as TASK
from web4ai.core.model import (
    Node,
    NodeStatus,
    Requirements,
    Task,
    TaskPhase,
    TaskStatus,
    default_capacity,
)
from web4ai.core.routing import agent_models

ORCHESTRATOR_NAME = "web4ai"
NODE_FINALIZER = "web4ai.io/node-cleanup"


def format_time(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: str | None) -> float | None:
    if not value:
        return None
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def name_of(body: AnyBody) -> str:
    return str(body["metadata"]["name"])


def marked_deleted(body: AnyBody, now: float) -> Body:
    """``body`` as it reads once its deletion was asked for (``deletionTimestamp``)."""
    raw = cast(Body, body)
    return {**raw, "metadata": {**raw["metadata"], "deletionTimestamp": format_time(now)}}


def generation(body: AnyBody) -> object:
    """The spec's generation (it changes with the spec, not with the status)."""
    return body["metadata"].get("generation")


def resource_version(body: AnyBody) -> str:
    return str(body["metadata"]["resourceVersion"])


# The API server validated a raw body against its CRD: these say which kind it is.


def as_node(body: Body) -> NodeBody:
    return cast(NodeBody, body)


def as_task(body: Body) -> TaskBody:
    return cast(TaskBody, body)


def as_orchestrator(body: Body) -> OrchestratorBody:
    return cast(OrchestratorBody, body)


@overload
def status_of(body: NodeBody) -> NodeStatusBody: ...
@overload
def status_of(body: TaskBody) -> TaskStatusBody: ...
@overload
def status_of(body: OrchestratorBody) -> OrchestratorStatus: ...
def status_of(
    body: NodeBody | TaskBody | OrchestratorBody,
) -> NodeStatusBody | TaskStatusBody | OrchestratorStatus:
    """The status, or an empty one before the first status write."""
    return body.get("status") or {}


def node_id(body: NodeBody) -> str:
    return str(body["spec"]["nodeId"])


def _node_status(value: str | None) -> NodeStatus | None:
    return NodeStatus(value) if value else None


def node_status(body: NodeBody) -> NodeStatus | None:
    return _node_status(status_of(body).get("status"))


def admin_status(body: NodeBody) -> NodeStatus | None:
    """An admin's intent (PUT status with an admin key, drain): holds until an admin
    changes it."""
    return _node_status(status_of(body).get("adminStatus"))


def reported_status(body: NodeBody) -> NodeStatus | None:
    """What the node itself reports (registration, heartbeats, its own PUT status)."""
    return _node_status(status_of(body).get("reportedStatus"))


def node_alive(body: NodeBody) -> bool:
    """False once liveness found the node's Lease expired (Ready=False), until the
    next heartbeat."""
    for c in status_of(body).get("conditions") or []:
        if c.get("type") == "Ready":
            return bool(c.get("status") != "False")
    return True


def node_draining(body: NodeBody) -> Draining | None:
    """``{"requestedAt", "deadline"?}`` while an admin's drain is under way."""
    return status_of(body).get("draining") or None


def node_capacity(body: NodeBody) -> int:
    spec = body["spec"]
    return default_capacity(
        int(spec.get("agentsCount", NODE["agentsCount"])), spec.get("maxConcurrentTasks")
    )


def node_from_body(body: NodeBody, running: int) -> Node:
    spec, status = body["spec"], status_of(body)
    meta = spec.get("metadata") or {}
    total = status.get("agentsStatus", {}).get("memory_total_mb") or meta.get("memory_total_mb")
    return Node(
        node_id=node_id(body),
        # a draining node takes nothing new: the scheduler sees it in maintenance
        status=NodeStatus.MAINTENANCE
        if node_draining(body)
        else node_status(body) or NodeStatus.OFFLINE,
        capacity=node_capacity(body),
        running=running,
        capabilities=frozenset(spec.get("capabilities") or ()),
        cpu_usage=float(status.get("cpuUsage", 0.0)),
        memory_usage=float(status.get("memoryUsage", 0.0)),
        gpu_usage=float(status.get("gpuUsage", 0.0)),
        memory_total_mb=float(total) if total is not None else None,
        load_score=float(status.get("loadScore", 0.0)),
        reliability=float(status.get("reliabilityScore", 1.0)),
        network_latency=status.get("networkLatency"),
        agents=agent_models(spec.get("agents") or (), status.get("agents") or ()),
    )


LEGACY_STATUS_PHASE = {  # stored before ``phase`` existed; read in place, rewritten on upgrade
    "assigned": TaskPhase.ASSIGNED,
    "running": TaskPhase.RUNNING,
}


def task_phase(body: TaskBody) -> TaskPhase:
    """The finer state. ``status.status`` is the authority when the two disagree (a
    writer that knows only the status, or objects written before ``phase`` existed,
    whose ``assigned``/``running`` words are read in place)."""
    status = status_of(body)
    value = status.get("status") or "pending"
    phase = status.get("phase")
    if phase and value not in LEGACY_STATUS_PHASE and TaskPhase(phase).status.value == value:
        return TaskPhase(phase)
    legacy = LEGACY_STATUS_PHASE.get(value)
    if legacy is not None:
        return legacy
    if value == TaskStatus.ACTIVE.value:
        return TaskPhase.RUNNING if status.get("startedAt") else TaskPhase.ASSIGNED
    if value in (TaskStatus.COMPLETED.value, TaskStatus.FAILED.value):
        return TaskPhase(value)
    return TaskPhase.RETRYING if int(status.get("retryCount", 0)) else TaskPhase.QUEUED


def task_status(body: TaskBody) -> TaskStatus:
    """The seed's status: pending, active, completed or failed."""
    return task_phase(body).status


def needs_upgrade(body: TaskBody) -> bool:
    """Written before ``phase`` existed, with a legacy status word, or with a phase
    that disagrees with the status."""
    status = status_of(body)
    return bool(status) and status.get("phase") != task_phase(body).value


def task_node(body: TaskBody) -> str | None:
    status = status_of(body)
    return status.get("nodeId")


def submitted_at(body: TaskBody) -> float:
    spec = body["spec"]
    ts = parse_time(spec.get("submittedAt")) or parse_time(
        body["metadata"].get("creationTimestamp")
    )
    return ts or 0.0


def task_from_body(body: TaskBody) -> Task:
    spec, status = body["spec"], status_of(body)
    req = spec.get("requirements") or {}
    return Task(
        name=name_of(body),
        task_id=str(spec["taskId"]),
        priority=int(spec.get("priority", TASK["priority"])),
        submitted_at=submitted_at(body),
        requirements=Requirements(
            capabilities=frozenset(req.get("capabilities") or ()),
            min_cpu=float(req.get("minCpu", 0.0)),
            min_memory=float(req.get("minMemory", 0.0)),
            preferred_nodes=tuple(req.get("preferredNodes") or ()),
            exclude_nodes=frozenset(req.get("excludeNodes") or ()),
            model=req.get("model"),
            affinity_key=req.get("affinityKey"),
        ),
        previous_nodes=tuple(
            str(a["nodeId"]) for a in status.get("attempts") or () if a.get("nodeId")
        ),
    )
