"""Web4AINode / Web4AITask bodies (``web4ai.core.crs``) <-> the core model, and the
status patches the controllers write. Pure functions over dicts; no I/O."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal, cast, overload

from web4ai.core import schemas as m
from web4ai.core.crs import (
    AnyBody,
    Attempt,
    Condition,
    Draining,
    NodeBody,
    NodeStatusBody,
    OrchestratorBody,
    OrchestratorStatus,
    Patch,
    TaskBody,
    TaskStatusBody,
)
from web4ai.core.crs import Body as Body  # re-exported: the one alias lives in core.crs
from web4ai.core.lifecycle import after_failed_attempt
from web4ai.core.limits import (
    ATTEMPT_ERROR_MAX,
    ATTEMPTS_MAX,
    CONDITION_REASON_MAX,
    EXPLANATION_MAX,
    truncate,
)
from web4ai.core.model import (
    Node,
    NodeStatus,
    Requirements,
    Task,
    TaskPhase,
    TaskStatus,
    default_capacity,
    effective_node_status,
)

GROUP = "web4ai.io"
VERSION = "v1alpha1"
NODES = "web4ainodes"
TASKS = "web4aitasks"
ORCHESTRATORS = "web4aiorchestrators"
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


# -- nodes -----------------------------------------------------------------


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


Keep = Literal["keep"]


def node_status_fields(
    body: NodeBody,
    now: float,
    *,
    admin: NodeStatus | Keep | None = "keep",
    reported: NodeStatus | Keep | None = "keep",
    alive: bool | None = None,
) -> Patch:
    """The status fields that set the admin intent and/or the node's report, with the
    effective ``status`` recomputed; ``alive`` (a sign of life or its absence)
    flips the Ready condition."""
    new_admin = admin_status(body) if admin == "keep" else admin
    new_reported = reported_status(body) if reported == "keep" else reported
    live = node_alive(body) if alive is None else alive
    out: Patch = {
        "status": effective_node_status(
            new_admin if isinstance(new_admin, NodeStatus) else None,
            new_reported if isinstance(new_reported, NodeStatus) else None,
            live,
        ).value,
    }
    if admin != "keep":
        out["adminStatus"] = new_admin.value if isinstance(new_admin, NodeStatus) else None
    if reported != "keep":
        out["reportedStatus"] = new_reported.value if isinstance(new_reported, NodeStatus) else None
    if alive is not None and alive != node_alive(body):
        out["conditions"] = set_condition(
            status_of(body).get("conditions"),
            condition(
                "Ready",
                alive,
                "HeartbeatReceived" if alive else "HeartbeatMissed",
                "the node is sending heartbeats" if alive else "no heartbeat",
                now,
            ),
        )
    return out


def node_capacity(body: NodeBody) -> int:
    spec = body["spec"]
    return default_capacity(int(spec.get("agentsCount", 1)), spec.get("maxConcurrentTasks"))


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
    )


# -- tasks -----------------------------------------------------------------


LEGACY_STATUS_PHASE = {  # stored before ``phase`` existed; read in place, rewritten on upgrade
    "assigned": TaskPhase.ASSIGNED,
    "running": TaskPhase.RUNNING,
}


def task_phase(body: TaskBody | Body) -> TaskPhase:
    """The finer state. ``status.status`` is the authority when the two disagree (a
    writer that knows only the status, or objects written before ``phase`` existed,
    whose ``assigned``/``running`` words are read in place). (Also a raw body:
    ``bench/models.py`` passes one.)"""
    status: TaskStatusBody = body.get("status") or {}
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


def phase_fields(phase: TaskPhase) -> Patch:
    return {"status": phase.status.value, "phase": phase.value}


def upgrade_patch(body: TaskBody) -> Patch:
    """status/phase in the current form, the current holder only in assignedNodes."""
    phase = task_phase(body)
    node = task_node(body)
    return guarded(
        body,
        {
            "status": {
                **phase_fields(phase),
                "assignedNodes": [node] if node and not phase.waiting else [],
            }
        },
    )


def task_node(body: TaskBody | Body) -> str | None:
    """(Also a raw body: ``bench/models.py`` passes one.)"""
    status: TaskStatusBody = body.get("status") or {}
    return status.get("nodeId")


def submitted_at(body: TaskBody | Body) -> float:
    """(Also a raw body: ``bench/models.py`` passes one.)"""
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
        priority=int(spec.get("priority", 3)),
        submitted_at=submitted_at(body),
        requirements=Requirements(
            capabilities=frozenset(req.get("capabilities") or ()),
            min_cpu=float(req.get("minCpu", 0.0)),
            min_memory=float(req.get("minMemory", 0.0)),
            preferred_nodes=tuple(req.get("preferredNodes") or ()),
            exclude_nodes=frozenset(req.get("excludeNodes") or ()),
        ),
        previous_nodes=tuple(
            str(a["nodeId"]) for a in status.get("attempts") or () if a.get("nodeId")
        ),
    )


def guarded(body: AnyBody, patch: Patch) -> Patch:
    """A merge patch that applies only to the version of ``body`` we saw."""
    meta = dict(patch.get("metadata") or {})
    meta["resourceVersion"] = resource_version(body)
    return {**patch, "metadata": meta}


def condition(ctype: str, status: bool, reason: str, message: str, now: float) -> Condition:
    return {
        "type": ctype,
        "status": "True" if status else "False",
        "reason": truncate(reason, CONDITION_REASON_MAX),
        "message": truncate(message, EXPLANATION_MAX),
        "lastTransitionTime": format_time(now),
    }


def set_condition(conditions: list[Condition] | None, new: Condition) -> list[Condition]:
    """Replace the condition of the same type, keeping lastTransitionTime when the
    status did not change."""
    out: list[Condition] = []
    for c in conditions or []:
        if c.get("type") == new["type"]:
            if c.get("status") == new["status"]:
                new = {**new, "lastTransitionTime": c["lastTransitionTime"]}
            continue
        out.append(c)
    out.append(new)
    return out


def bind_patch(body: TaskBody, node: str, now: float) -> Patch:
    """Pending -> assigned to ``node``: one guarded status write. The attempts keep
    the newest ``ATTEMPTS_MAX`` (requeues at no cost, drains and reboots, are not
    bounded by max_retries)."""
    status = status_of(body)
    attempt: Attempt = {"nodeId": node, "assignedAt": format_time(now)}
    attempts = [*(status.get("attempts") or []), attempt][-ATTEMPTS_MAX:]
    conditions = set_condition(
        status.get("conditions"),
        condition("Scheduled", True, "Assigned", f"assigned to {node}", now),
    )
    return guarded(
        body,
        {
            "status": {
                **phase_fields(TaskPhase.ASSIGNED),
                "nodeId": node,
                "assignedNodes": [node],
                "assignedAt": format_time(now),
                "attempts": attempts,
                "retryCount": int(status.get("retryCount", 0)),
                "conditions": conditions,
            }
        },
    )


def unschedulable_patch(
    body: TaskBody, message: str, now: float, reason: str = "Unschedulable"
) -> Patch | None:
    """The Scheduled=False condition saying why (reason ``Queued`` when every node is
    merely full); None when it already says so."""
    status = status_of(body)
    for c in status.get("conditions") or []:
        if (
            c.get("type") == "Scheduled"
            and c.get("status") == "False"
            and c.get("message") == message
        ):
            return None
    conditions = set_condition(
        status.get("conditions"), condition("Scheduled", False, reason, message, now)
    )
    patch: Patch = {"status": {"conditions": conditions}}
    if not status.get("status"):
        patch["status"].update(phase_fields(TaskPhase.QUEUED))
    return guarded(body, patch)


def _close_attempt(
    status: TaskStatusBody, outcome: str, error: str | None, now: float
) -> list[Attempt]:
    attempts = [a.copy() for a in status.get("attempts") or []]
    if attempts and "finishedAt" not in attempts[-1]:
        attempts[-1]["finishedAt"] = format_time(now)
        attempts[-1]["outcome"] = outcome
        if status.get("agentId") and "agentId" not in attempts[-1]:
            attempts[-1]["agentId"] = status["agentId"]
        if error:
            attempts[-1]["errorMessage"] = truncate(error, ATTEMPT_ERROR_MAX)
    return attempts


UNBIND: Patch = {
    "nodeId": None,
    "agentId": None,
    "assignedAt": None,
    "startedAt": None,
    "assignedNodes": [],
}


def attempt_failed_patch(
    body: TaskBody, error: str, now: float, *, retryable: bool = True
) -> Patch:
    """The current attempt failed: back to pending (``retrying``) for a retry, or
    failed for good."""
    spec, status = body["spec"], status_of(body)
    outcome = after_failed_attempt(
        int(status.get("retryCount", 0)),
        int(spec.get("maxRetries", 3)),
        error,
        retryable=retryable,
    )
    new: Patch = {
        **phase_fields(outcome.phase),
        "retryCount": outcome.retry_count,
        "errorMessage": outcome.error,
        "attempts": _close_attempt(status, "failed", error, now),
    }
    if outcome.phase.waiting:
        new.update(UNBIND)
    else:
        new["completedAt"] = format_time(now)
    return guarded(body, {"status": new})


def requeue_patch(body: TaskBody, reason: str, now: float) -> Patch:
    """Back to pending without charging a retry (the task did nothing wrong)."""
    status = status_of(body)
    return guarded(
        body,
        {
            "status": {
                **phase_fields(TaskPhase.RETRYING),
                **UNBIND,
                "errorMessage": reason,
                "attempts": _close_attempt(status, "requeued", reason, now),
            }
        },
    )


def start_patch(body: TaskBody, agent_id: str | None, now: float) -> Patch:
    """The node took the task: running."""
    status: Patch = {**phase_fields(TaskPhase.RUNNING), "startedAt": format_time(now)}
    if agent_id is not None:
        status["agentId"] = agent_id
    attempts = [a.copy() for a in status_of(body).get("attempts") or []]
    if attempts:
        attempts[-1]["startedAt"] = format_time(now)
        if agent_id is not None:
            attempts[-1]["agentId"] = agent_id
        status["attempts"] = attempts
    return guarded(body, {"status": status})


def started_with_result(patch: Patch, agent_id: str | None, started: float) -> Patch:
    """A result that finishes a task its node never started (``assigned``: the node
    skipped ``/start``, as for an instant task) also records the start: when and by
    which agent, on the attempt, and on the task unless the result unbinds it (a retry)."""
    status = patch["status"]
    when = format_time(started)
    attempts = status.get("attempts") or []
    if attempts and "startedAt" not in attempts[-1]:
        attempts[-1]["startedAt"] = when
        if agent_id is not None:
            attempts[-1]["agentId"] = agent_id
    if "startedAt" not in status:  # a retry unbinds it (startedAt: None)
        status["startedAt"] = when
        if agent_id is not None:
            status["agentId"] = agent_id
    return patch


def cancel_patch(body: TaskBody, by: str, now: float) -> Patch:
    """Cancelled: failed for good with phase ``cancelled``; the node holding it learns
    of it on its next poll or heartbeat."""
    status = status_of(body)
    message = f"cancelled by {by}"
    return guarded(
        body,
        {
            "status": {
                **phase_fields(TaskPhase.CANCELLED),
                "errorMessage": message,
                "completedAt": format_time(now),
                "attempts": _close_attempt(status, "cancelled", message, now),
            }
        },
    )


def retry_patch(body: TaskBody, now: float) -> Patch:
    """A failed task queued again, from scratch: retries, result and error cleared,
    the callback due again; the attempts keep the history."""
    return guarded(
        body,
        {
            "status": {
                **phase_fields(TaskPhase.QUEUED),
                **UNBIND,
                "retryCount": 0,
                "errorMessage": None,
                "result": None,
                "executionTime": None,
                "performanceMetrics": None,
                "completedAt": None,
                "callbackDelivered": None,
                "conditions": set_condition(
                    status_of(body).get("conditions"),
                    condition("Scheduled", False, "Retried", "queued again by a retry", now),
                ),
            }
        },
    )


def _attempt(view: dict[str, Any]) -> dict[str, Any]:
    error = view.pop("error", None)
    out: dict[str, Any] = {
        "node_id": None,
        "agent_id": None,
        "outcome": None,
        **view,
        "error_message": view.get("error_message") or error,
    }
    for key in m.ATTEMPT_TIMES:
        out[key] = parse_time(view.get(key))
    return out


def task_public(body: TaskBody) -> dict[str, Any]:
    """A task as the API shows it (GET /tasks/{id}, callbacks): the spec and status
    under the API's names (``web4ai.core.schemas.TaskView``: camelCase aliases), the
    phase, the holder and the times as Unix seconds."""
    view = m.TASK_VIEW.validate_python(body)
    status: dict[str, Any] = dict(view.get("status") or {})
    phase, node = task_phase(body), task_node(body)
    out: dict[str, Any] = {**m.TASK_DEFAULTS}
    out.update((k, v) for k, v in view["spec"].items() if v is not None)
    out.pop("submitted_at", None)
    out |= {
        "status": phase.status.value,
        "phase": phase.value,
        "assigned_nodes": [node] if node and not phase.waiting else [],
        "created_at": submitted_at(body),
        "attempts": [_attempt(dict(a)) for a in status.pop("attempts", None) or []],
    }
    for key in m.TASK_TIMES:
        value = parse_time(status.pop(key, None))
        if value is not None:
            out[key] = value
    out.update((k, v) for k, v in status.items() if v is not None)
    return out


def completed_patch(body: TaskBody, now: float) -> Patch:
    """The node finished the task: completed, with the attempt closed."""
    status = status_of(body)
    return guarded(
        body,
        {
            "status": {
                **phase_fields(TaskPhase.COMPLETED),
                "completedAt": format_time(now),
                "errorMessage": None,
                "attempts": _close_attempt(status, "completed", None, now),
            }
        },
    )
