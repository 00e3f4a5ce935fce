"""The lean bodies a process keeps in its stores: what its passes and readers use of
an object, nothing more. Applied once per event where bodies come in (lists, watch
events, our own writes' results), so that no stored body holds what is dropped here.

- Every object: no ``metadata.managedFields`` (server-side apply's bookkeeping, often
  the largest part of a body) and no ``kubectl.kubernetes.io/last-applied-configuration``.
- A task in the operator (``operator_task``): no input, result, metrics, progress or
  error texts. Its passes read the spec's scheduling fields, the status words, the
  times and the attempts; the attempts of an unfinished task are kept whole, as the
  operator's own writes (binding, requeue, failure) write them back as a whole list.
  A finished task keeps of each attempt what the accounting counts (node, outcome,
  when it ended), and its conditions only while its callback is unsettled (the
  callback's write is the one that sets a condition on a finished task). A callback's
  payload is read from the API server when it is sent.
- A task in the API (``api_task``): an unfinished task whole (a node's long-poll hands
  out its input; its GET shows it from the store); a finished one without input,
  result, metrics, progress, spec metadata and attempts: what the lists, summaries
  and a retry read. ``api_trimmed`` says which bodies lack something
  ``GET /tasks/{id}`` shows (read from the API server then).

Pure functions over dicts; the input is never changed. Idempotent: a lean body
leaned again is the same."""

from __future__ import annotations

import sys
from typing import Any, cast

from web4ai.core.bodies import as_task, task_status
from web4ai.core.crs import Body, TaskBody

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"

# spec and status fields no pass of the operator reads
OPERATOR_DROPS_SPEC = frozenset({"inputData", "metadata"})
OPERATOR_DROPS_STATUS = frozenset({"result", "performanceMetrics", "progress", "errorMessage"})
# of a finished task's attempts, the operator keeps what the accounting counts
OPERATOR_FINISHED_ATTEMPT = ("nodeId", "outcome", "finishedAt")
# a finished task's status in the operator: the words, the times, the holder
OPERATOR_FINISHED_STATUS = frozenset(
    {
        "status",
        "phase",
        "nodeId",
        "retryCount",
        "completedAt",
        "executionTime",
        "callbackDelivered",
        "attempts",
        "conditions",
    }
)

# what the API drops of a finished task (a GET reads it from the API server)
API_DROPS_SPEC = frozenset({"inputData", "metadata"})
API_DROPS_STATUS = frozenset({"result", "performanceMetrics", "progress", "attempts"})

# words that repeat in every body: one string object each, not one per body
_INTERNED = frozenset(
    {"status", "phase", "outcome", "type", "reason", "nodeId", "agentId", "taskType"}
)


def _intern(value: Any) -> Any:
    return sys.intern(value) if isinstance(value, str) and len(value) <= 64 else value


def lean_metadata(meta: dict[str, Any]) -> dict[str, Any]:
    """The metadata without managedFields and the last-applied annotation."""
    if "managedFields" not in meta and LAST_APPLIED not in (meta.get("annotations") or {}):
        return meta
    out = {k: v for k, v in meta.items() if k != "managedFields"}
    annotations = out.get("annotations")
    if annotations and LAST_APPLIED in annotations:
        rest = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
        if rest:
            out["annotations"] = rest
        else:
            del out["annotations"]
    return out


def lean_object(body: Body) -> Body:
    """Any object (a node, a Lease, the orchestrator) without managedFields and the
    last-applied annotation."""
    meta = body.get("metadata")
    if not isinstance(meta, dict):
        return body
    lean = lean_metadata(meta)
    return body if lean is meta else {**body, "metadata": lean}


def _without(part: Any, drop: frozenset[str]) -> Any:
    if not isinstance(part, dict):
        return part
    return {k: _intern(v) if k in _INTERNED else v for k, v in part.items() if k not in drop}


def _finished(body: Body) -> bool:
    try:
        return task_status(as_task(body)).terminal
    except (ValueError, TypeError, AttributeError):
        return False  # a status word we do not know: keep it whole


def _callback_unsettled(body: Body) -> bool:
    spec, status = body.get("spec") or {}, body.get("status") or {}
    return bool(spec.get("callbackUrl")) and "callbackDelivered" not in status


def operator_task(body: Body) -> Body:
    """A task as the operator keeps it (see the module's docstring)."""
    out = lean_object(body)
    out = {**out, "spec": _without(out.get("spec"), OPERATOR_DROPS_SPEC)}
    status = out.get("status")
    if not isinstance(status, dict):
        return out
    if not _finished(out):
        out["status"] = _without(status, OPERATOR_DROPS_STATUS)
        return out
    kept = {
        k: _intern(v) if k in _INTERNED else v
        for k, v in status.items()
        if k in OPERATOR_FINISHED_STATUS
    }
    if "attempts" in kept:
        kept["attempts"] = [
            {k: _intern(a[k]) for k in OPERATOR_FINISHED_ATTEMPT if k in a}
            for a in kept["attempts"] or []
        ]
    if not _callback_unsettled(out):
        kept.pop("conditions", None)
    out["status"] = kept
    return out


def api_task(body: Body) -> Body:
    """A task as the API keeps it (see the module's docstring)."""
    out = lean_object(body)
    if not _finished(out):
        return out
    return {
        **out,
        "spec": _without(out.get("spec"), API_DROPS_SPEC),
        "status": _without(out.get("status"), API_DROPS_STATUS),
    }


def api_trimmed(body: TaskBody) -> bool:
    """Whether the API's lean body of this task lacks what ``GET /tasks/{id}`` shows (a
    finished task's input, result, metrics and attempts)."""
    return _finished(cast(Body, body))
