"""Raw Web4AINode / Web4AITask bodies <-> the core model, and the status patches
the controllers write. Pure functions over dicts; no I/O."""

from __future__ import annotations

import datetime as dt
from typing import Any

from web4ai.core.lifecycle import after_failed_attempt
from web4ai.core.model import Node, NodeStatus, Requirements, Task, TaskStatus, default_capacity

Body = dict[str, Any]

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


def name_of(body: Body) -> str:
    return str(body["metadata"]["name"])


def resource_version(body: Body) -> str:
    return str(body["metadata"]["resourceVersion"])


# -- nodes -----------------------------------------------------------------


def node_id(body: Body) -> str:
    return str(body["spec"]["nodeId"])


def node_status(body: Body) -> NodeStatus | None:
    value = (body.get("status") or {}).get("status")
    return NodeStatus(value) if value else None


def node_capacity(body: Body) -> int:
    spec = body["spec"]
    return default_capacity(int(spec.get("agentsCount", 1)), spec.get("maxConcurrentTasks"))


def node_from_body(body: Body, running: int) -> Node:
    spec, status = body["spec"], body.get("status") or {}
    meta = spec.get("metadata") or {}
    total = status.get("agentsStatus", {}).get("memory_total_mb") or meta.get("memory_total_mb")
    return Node(
        node_id=node_id(body),
        status=node_status(body) or NodeStatus.OFFLINE,
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


def task_status(body: Body) -> TaskStatus:
    value = (body.get("status") or {}).get("status")
    return TaskStatus(value) if value else TaskStatus.PENDING


def task_node(body: Body) -> str | None:
    return (body.get("status") or {}).get("nodeId")


def submitted_at(body: Body) -> float:
    spec = body["spec"]
    ts = parse_time(spec.get("submittedAt")) or parse_time(
        body["metadata"].get("creationTimestamp")
    )
    return ts or 0.0


def task_from_body(body: Body) -> Task:
    spec, status = body["spec"], body.get("status") or {}
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
        previous_nodes=tuple(status.get("assignedNodes") or ()),
    )


def guarded(body: Body, patch: Body) -> Body:
    """A merge patch that applies only to the version of ``body`` we saw."""
    meta = dict(patch.get("metadata") or {})
    meta["resourceVersion"] = resource_version(body)
    return {**patch, "metadata": meta}


def condition(ctype: str, status: bool, reason: str, message: str, now: float) -> dict[str, str]:
    return {
        "type": ctype,
        "status": "True" if status else "False",
        "reason": reason,
        "message": message,
        "lastTransitionTime": format_time(now),
    }


def set_condition(conditions: list[Body] | None, new: dict[str, str]) -> list[Body]:
    """Replace the condition of the same type, keeping lastTransitionTime when the
    status did not change."""
    out: list[Body] = []
    for c in conditions or []:
        if c.get("type") == new["type"]:
            if c.get("status") == new["status"]:
                new = {**new, "lastTransitionTime": c["lastTransitionTime"]}
            continue
        out.append(c)
    out.append(new)
    return out


def bind_patch(body: Body, node: str, now: float) -> Body:
    """Pending -> assigned to ``node``: one guarded status write."""
    status = body.get("status") or {}
    attempts = [
        *list(status.get("attempts") or []),
        {"nodeId": node, "assignedAt": format_time(now)},
    ]
    assigned = [*list(status.get("assignedNodes") or []), node]
    conditions = set_condition(
        status.get("conditions"),
        condition("Scheduled", True, "Assigned", f"assigned to {node}", now),
    )
    return guarded(
        body,
        {
            "status": {
                "status": TaskStatus.ASSIGNED.value,
                "nodeId": node,
                "assignedNodes": assigned,
                "assignedAt": format_time(now),
                "attempts": attempts,
                "retryCount": int(status.get("retryCount", 0)),
                "conditions": conditions,
            }
        },
    )


def unschedulable_patch(
    body: Body, message: str, now: float, reason: str = "Unschedulable"
) -> Body | None:
    """The Scheduled=False condition saying why (reason ``Queued`` when every node is
    merely full); None when it already says so."""
    status = body.get("status") or {}
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
    patch: Body = {"status": {"conditions": conditions}}
    if not status.get("status"):
        patch["status"]["status"] = TaskStatus.PENDING.value
    return guarded(body, patch)


def _close_attempt(status: Body, outcome: str, error: str | None, now: float) -> list[Body]:
    attempts = [dict(a) for a in status.get("attempts") or []]
    if attempts and "finishedAt" not in attempts[-1]:
        attempts[-1]["finishedAt"] = format_time(now)
        attempts[-1]["outcome"] = outcome
        if error:
            attempts[-1]["error"] = error
    return attempts


def attempt_failed_patch(body: Body, error: str, now: float, *, retryable: bool = True) -> Body:
    """The current attempt failed: back to pending for a retry, or failed for good."""
    spec, status = body["spec"], body.get("status") or {}
    outcome = after_failed_attempt(
        int(status.get("retryCount", 0)),
        int(spec.get("maxRetries", 3)),
        error,
        retryable=retryable,
    )
    new: Body = {
        "status": outcome.status.value,
        "retryCount": outcome.retry_count,
        "errorMessage": outcome.error,
        "attempts": _close_attempt(status, "failed", error, now),
    }
    if outcome.status is TaskStatus.PENDING:
        new.update({"nodeId": None, "agentId": None, "assignedAt": None, "startedAt": None})
    else:
        new["completedAt"] = format_time(now)
    return guarded(body, {"status": new})


def task_public(body: Body) -> Body:
    """A task as the API shows it (GET /tasks/{id}, callbacks)."""
    spec, status = body["spec"], body.get("status") or {}
    req = spec.get("requirements") or {}
    out: Body = {
        "task_id": spec["taskId"],
        "task_type": spec["taskType"],
        "status": task_status(body).value,
        "priority": spec.get("priority", 3),
        "assigned_nodes": list(status.get("assignedNodes") or []),
        "created_at": submitted_at(body),
        "timeout": spec.get("timeout", 300),
        "max_retries": spec.get("maxRetries", 3),
        "retry_count": status.get("retryCount", 0),
        "node_id": status.get("nodeId"),
        "agent_id": status.get("agentId"),
        "requirements": {
            k: v
            for k, v in {
                "capabilities": req.get("capabilities"),
                "min_cpu": req.get("minCpu"),
                "min_memory": req.get("minMemory"),
                "preferred_nodes": req.get("preferredNodes"),
                "exclude_nodes": req.get("excludeNodes"),
            }.items()
            if v is not None
        },
        "input_data": spec.get("inputData") or {},
        "metadata": spec.get("metadata") or {},
    }
    optional = {
        "deadline": spec.get("deadline"),
        "callback_url": spec.get("callbackUrl"),
        "assigned_at": parse_time(status.get("assignedAt")),
        "started_at": parse_time(status.get("startedAt")),
        "completed_at": parse_time(status.get("completedAt")),
        "execution_time": status.get("executionTime"),
        "result": status.get("result"),
        "error_message": status.get("errorMessage"),
        "performance_metrics": status.get("performanceMetrics"),
    }
    out.update({k: v for k, v in optional.items() if v is not None})
    return out


def completed_patch(body: Body, now: float) -> Body:
    """The node finished the task: completed, with the attempt closed."""
    status = body.get("status") or {}
    return guarded(
        body,
        {
            "status": {
                "status": TaskStatus.COMPLETED.value,
                "completedAt": format_time(now),
                "errorMessage": None,
                "attempts": _close_attempt(status, "completed", None, now),
            }
        },
    )
