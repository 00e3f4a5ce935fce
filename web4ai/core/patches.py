"""The merge patches the controllers and the API write: status transitions of tasks
and nodes, conditions, each guarded by the resourceVersion it was computed from.
Pure functions over dicts; no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from web4ai.core.bodies import (
    admin_status,
    format_time,
    node_alive,
    parse_time,
    reported_status,
    resource_version,
    status_of,
    task_node,
    task_phase,
)
from web4ai.core.crs import (
    AnyBody,
    Attempt,
    Condition,
    Draining,
    NodeBody,
    Patch,
    Progress,
    TaskBody,
    TaskStatusBody,
)
from web4ai.core.defaults import TASK_SPEC_DEFAULTS as TASK
from web4ai.core.lifecycle import after_failed_attempt
from web4ai.core.limits import (
    ATTEMPT_ERROR_MAX,
    ATTEMPTS_MAX,
    CONDITION_REASON_MAX,
    EXPLANATION_MAX,
    truncate,
)
from web4ai.core.model import NodeStatus, TaskPhase, effective_node_status
from web4ai.core.progress import Report
from web4ai.core.scheduling import only_capacity
from web4ai.core.schemas.requests import TaskResult

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


def bind_patch(body: TaskBody, node: str, now: float, why: str = "") -> Patch:
    """Pending -> assigned to ``node``: one guarded status write. The attempts keep
    the newest ``ATTEMPTS_MAX`` (requeues at no cost, drains and reboots, are not
    bounded by max_retries). ``why`` the node won, when routing chose it, ends the
    Scheduled condition's message."""
    status = status_of(body)
    attempt: Attempt = {"nodeId": node, "assignedAt": format_time(now)}
    attempts = [*(status.get("attempts") or []), attempt][-ATTEMPTS_MAX:]
    conditions = set_condition(
        status.get("conditions"),
        condition("Scheduled", True, "Assigned", f"assigned to {node}" + (why and f": {why}"), now),
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


def waiting_patch(body: TaskBody, message: str, now: float) -> Patch | None:
    """Why a pending task waits (``message``, from the scheduler): the condition to write,
    reason ``Queued`` when every node is merely full; None when it says so already."""
    reason = "Queued" if only_capacity(message) else "Unschedulable"
    return unschedulable_patch(body, message, now, reason)


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
        int(spec.get("maxRetries", TASK["maxRetries"])),
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


# -- what the API writes ------------------------------------------------------------


def spec_replacement(current: Mapping[str, Any], spec: Mapping[str, Any]) -> Patch:
    """A merge patch that makes a spec ``spec``: what it no longer declares is removed."""
    return {"spec": {**{k: None for k in current if k not in spec}, **spec}}


def registration_patch(node: NodeBody, now: float) -> Patch:
    """A (re-)registration reports active and alive; an admin's intent still holds."""
    return {
        "status": {
            **node_status_fields(node, now, reported=NodeStatus.ACTIVE, alive=True),
            "registeredAt": format_time(now),
            "lastHeartbeat": format_time(now),
        }
    }


def node_status_patch(node: NodeBody, now: float, value: NodeStatus, *, by_node: bool) -> Patch:
    """PUT status: a node key sets the node's own report; an admin key sets the admin's
    intent (``active`` clears it) and ends a drain."""
    if by_node:
        return {"status": node_status_fields(node, now, reported=value)}
    fields = node_status_fields(node, now, admin=None if value is NodeStatus.ACTIVE else value)
    fields["draining"] = None
    return {"status": fields}


def drain_patch(now: float, deadline: float | None) -> Patch:
    """An admin's drain, with its deadline ``deadline`` seconds from now if given."""
    draining: Draining = {"requestedAt": format_time(now)}
    if deadline is not None:
        draining["deadline"] = now + deadline
    return {"status": {"draining": draining}}


def paused_patch(paused: bool) -> Patch:
    return {"spec": {"paused": paused}}


def spec_patch(spec: Mapping[str, Any]) -> Patch:
    """The orchestrator's settings, merged into its spec."""
    return {"spec": dict(spec)}


def result_patch(body: TaskBody, data: TaskResult, now: float) -> Patch:
    """A node's result: completed, or the attempt failed (a retry when retries are
    left); the result, metrics and execution time recorded. A result for a task the node
    never started (``assigned``: an instant task) also records the start."""
    if data.status == "failed":
        patch = attempt_failed_patch(body, data.error_message or "the node reported a failure", now)
    else:
        patch = completed_patch(body, now)
    extra = patch["status"]
    extra.update(data.model_dump(include={"result", "performance_metrics"}, exclude_unset=True))
    status = status_of(body)
    started = parse_time(status.get("startedAt")) or parse_time(status.get("assignedAt"))
    if data.execution_time is not None:
        extra["executionTime"] = data.execution_time
    elif started is not None:
        extra["executionTime"] = round(max(0.0, now - started), 6)
    if task_phase(body) is TaskPhase.ASSIGNED:  # /start was skipped
        ran = data.execution_time
        begun = now - float(ran) if ran is not None else now
        assigned = parse_time(status.get("assignedAt"))
        if assigned is not None:
            begun = min(now, max(begun, assigned))
        started_with_result(patch, data.agent_id, begun)
    return patch


def progress_patch(body: TaskBody, report: Report) -> Patch:
    """The holding node's latest progress report as ``status.progress`` (guarded)."""
    progress: Progress = {"percent": report.percent, "updatedAt": format_time(report.at)}
    if report.message is not None:
        progress["message"] = report.message
    # a merge patch keeps what it does not name: a report without a message drops the
    # last one's (null deletes)
    return guarded(body, {"status": {"progress": {"message": None, **progress}}})
