"""Pure rules behind the Prometheus metrics: bounded label values from the domain.

Every label value here comes from a small closed set, so that no series is ever
keyed by a task id, a URL or an error text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from web4ai.core.model import TaskPhase

PRIORITIES = ("1", "2", "3", "4", "5")
PENDING_REASONS = ("queued", "unschedulable")
RETRY_REASONS = ("failed", "node_lost", "timeout", "requeued", "manual")
CALLBACK_OUTCOMES = ("delivered", "failed", "refused")
SCHEDULE_RESULTS = ("scheduled", "unschedulable", "conflict")
EVICTION_REASONS = ("node_offline", "node_deleted", "drain_deadline")
TASK_OUTCOMES = ("completed", "failed", "cancelled")
TRANSPORTS = ("dedicated_port", "same_origin")
NODE_LOST_ERROR = "Node became unavailable"

# /apis/<group>/<version>/namespaces/<ns>/<plural>[/<name>[/<subresource>]]
# /api/<version>/namespaces/<ns>/<plural>[/<name>[/<subresource>]]
_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


def pending_reason(conditions: Iterable[Mapping[str, Any]] | None) -> str:
    """``unschedulable`` when the scheduler said no node fits, else ``queued``
    (waiting for a slot, or not looked at yet)."""
    for cond in conditions or ():
        if cond.get("type") == "Scheduled" and cond.get("status") == "False":
            return "unschedulable" if cond.get("reason") == "Unschedulable" else "queued"
    return "queued"


def priority_label(priority: object) -> str:
    """The priority as a label, clamped to 1..5 (anything else is counted as 3)."""
    try:
        value = int(str(priority))
    except ValueError:
        return "3"
    return str(min(5, max(1, value)))


def retry_reason(old: TaskPhase, new: TaskPhase, error: str | None) -> str | None:
    """Why a task went back to waiting, or None when the transition is no retry."""
    if not new.waiting or old.waiting:
        return None
    if old.terminal:
        return "manual"  # POST /tasks/{id}/retry
    text = (error or "").lower()
    if error == NODE_LOST_ERROR:
        return "node_lost"
    if "timed out" in text:
        return "timeout"
    if "drain" in text or "requeue" in text:
        return "requeued"
    return "failed"


def outcome_of(phase: TaskPhase) -> str | None:
    """The ``outcome`` label of a finished task."""
    return phase.value if phase.terminal else None


def request_labels(method: str, url: str) -> tuple[str, str]:
    """(resource, verb) of a call to the Kubernetes API, as kube-apiserver counts them:
    list/get/watch for reads, create/update/patch/delete for writes."""
    # string operations, not urlsplit and parse_qs: this runs on every request
    path, _, query = url.partition("?")
    start = path.find("://")
    if start >= 0:
        slash = path.find("/", start + 3)
        path = path[slash:] if slash >= 0 else ""
    segments = [s for s in path.split("/") if s]
    watching = False
    for pair in query.split("&") if query else ():
        key, _, value = pair.partition("=")
        if key == "watch":
            watching = value.lower() in ("true", "1")
            break
    resource, named = "other", True
    if segments and segments[0] in ("api", "apis"):
        rest = segments[2:] if segments[0] == "api" else segments[3:]
        if len(rest) >= 3 and rest[0] == "namespaces":
            rest = rest[2:]
        if rest:
            resource = rest[0]
            named = len(rest) > 1
            if len(rest) > 2:
                resource = f"{rest[0]}/{rest[2]}"
    method = method.upper()
    if method == "GET":
        verb = "watch" if watching else ("get" if named else "list")
    else:
        verb = _VERBS.get(method, "other")
    return resource, verb
