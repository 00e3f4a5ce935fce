"""The lean bodies a process keeps in its stores: what its passes and readers use of
an object, nothing more. Applied once per event where bodies come in (lists, watch
events, our own writes' results), so that no stored body holds what is dropped here.

- Every object: no ``metadata.managedFields`` (server-side apply's bookkeeping, often
  the largest part of a body) and no ``kubectl.kubernetes.io/last-applied-configuration``.
- A task in the operator (``operator_task``): no input, result, metrics, progress or
  error texts. Its passes read an unfinished task's spec (scheduling, timeouts), its
  status words, times, attempts and conditions; the attempts and conditions are kept
  whole, as the operator's own writes (binding, requeue, failure, the Scheduled
  condition) write them back as whole lists. Of a finished task they read its name,
  uid and times (retention), its status words, the attempts' count, nodes and
  outcomes (the accounting; callbacks), its callback URL and whether it was settled,
  and its conditions while the callback is unsettled (the callback's write sets one).
  A callback's payload is read from the API server when it is sent.
- A task in the API (``api_task``): an unfinished task whole (a node's long-poll hands
  out its input; its GET shows it from the store). Of a finished task, what the lists
  and summaries show (id, type, status words, node and agent, times, retries, error
  message) and what a retry reads (its conditions). ``api_trimmed`` says which bodies lack
  something ``GET /tasks/{id}`` shows (read from the API server then).

The structural dicts are rebuilt with interned keys and words (``json`` makes new key
strings for every event it parses: one string object per key per task otherwise).
Pure functions over dicts; the input is never changed. Idempotent: a lean body leaned
again is the same."""

from __future__ import annotations

import sys
from collections.abc import Collection
from typing import Any, cast

from web4ai.core.bodies import as_task, task_status
from web4ai.core.crs import Body, TaskBody

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"

# of a finished task's metadata, both keep what names it and its life
FINISHED_METADATA = frozenset(
    {
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "finalizers",
    }
)

# the operator: an unfinished task without these (no pass reads them)
OPERATOR_DROPS_SPEC = frozenset({"inputData", "metadata"})
OPERATOR_DROPS_STATUS = frozenset({"result", "performanceMetrics", "progress", "errorMessage"})
# the operator: of a finished task, only these
OPERATOR_FINISHED_SPEC = frozenset({"taskId", "submittedAt", "callbackUrl"})
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
OPERATOR_FINISHED_ATTEMPT = frozenset({"nodeId", "outcome", "finishedAt"})

# the API: of a finished task, only these (a GET reads the rest from the API server)
API_FINISHED_SPEC = frozenset({"taskId", "taskType", "submittedAt"})
API_FINISHED_STATUS = frozenset(
    {
        "status",
        "phase",
        "nodeId",
        "agentId",  # a node's detail counts its agents' tasks
        "retryCount",
        "completedAt",
        "executionTime",
        "errorMessage",
        "callbackDelivered",
        "conditions",
    }
)

# values that repeat across bodies: one string object each, not one per body
_WORDS = frozenset(
    {
        "apiVersion",
        "kind",
        "namespace",
        "status",
        "phase",
        "outcome",
        "type",
        "reason",
        "nodeId",
        "agentId",
        "taskType",
        "model",
    }
)
# parts whose keys are ours (the CRD's): rebuilt with interned keys. User data
# (inputData, result, metadata, performanceMetrics) is kept as it came.
_OURS = frozenset({"requirements", "attempts", "conditions", "progress", "labels"})


def _word(value: Any) -> Any:
    return sys.intern(value) if isinstance(value, str) and len(value) <= 64 else value


def _compact(part: Any, keep: Collection[str] | None = None, drop: Collection[str] = ()) -> Any:
    """``part`` (a dict of our schema) with interned keys and words, only ``keep``'s
    keys (all when None) and none of ``drop``'s; its own parts likewise."""
    if isinstance(part, list):
        return [_compact(item) if isinstance(item, dict) else item for item in part]
    if not isinstance(part, dict):
        return part
    out = {}
    for key, value in part.items():
        if key in drop or (keep is not None and key not in keep):
            continue
        if key in _WORDS:
            value = _word(value)
        elif key in _OURS:
            value = _compact(value)
        out[sys.intern(key)] = value
    return out


def lean_metadata(meta: dict[str, Any], keep: Collection[str] | None = None) -> dict[str, Any]:
    """The metadata without managedFields and the last-applied annotation (and only
    ``keep``'s keys, when given)."""
    out = _compact(meta, keep, drop=("managedFields",))
    annotations = out.get("annotations")
    if annotations and LAST_APPLIED in annotations:
        rest = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
        if rest:
            out["annotations"] = rest
        else:
            del out["annotations"]
    return cast(dict[str, Any], out)


def lean_object(body: Body) -> Body:
    """Any object (a node, a Lease, the orchestrator) without managedFields and the
    last-applied annotation."""
    meta = body.get("metadata")
    if not isinstance(meta, dict) or (
        "managedFields" not in meta and LAST_APPLIED not in (meta.get("annotations") or {})
    ):
        return body
    return {**body, "metadata": lean_metadata(meta)}


def _finished(body: Body) -> bool:
    try:
        return task_status(as_task(body)).terminal
    except (ValueError, TypeError, AttributeError):
        return False  # a status word we do not know: keep it whole


def _task(body: Body, meta: Collection[str] | None, spec: Any, status: Any) -> Body:
    out = _compact(body, drop=("metadata", "spec", "status"))
    out["metadata"] = lean_metadata(body.get("metadata") or {}, meta)
    out["spec"] = spec
    if status is not None:
        out["status"] = status
    return cast(Body, out)


def operator_task(body: Body) -> Body:
    """A task as the operator keeps it (see the module's docstring)."""
    status = body.get("status")
    if not _finished(body):
        return _task(
            body,
            None,
            _compact(body.get("spec"), drop=OPERATOR_DROPS_SPEC),
            None if status is None else _compact(status, drop=OPERATOR_DROPS_STATUS),
        )
    spec = _compact(body.get("spec"), OPERATOR_FINISHED_SPEC)
    kept = _compact(status, OPERATOR_FINISHED_STATUS)
    if "attempts" in kept:
        kept["attempts"] = [_compact(a, OPERATOR_FINISHED_ATTEMPT) for a in kept["attempts"] or []]
    if not spec.get("callbackUrl") or "callbackDelivered" in kept:
        kept.pop("conditions", None)  # no write of the operator will set one
    return _task(body, FINISHED_METADATA, spec, kept)


def api_task(body: Body) -> Body:
    """A task as the API keeps it (see the module's docstring)."""
    if not _finished(body):
        return _task(body, None, _compact(body.get("spec")), _compact(body.get("status")))
    status = body.get("status") or {}
    # the lists order finished tasks by completedAt, else by assignedAt
    keep = API_FINISHED_STATUS if "completedAt" in status else API_FINISHED_STATUS | {"assignedAt"}
    return _task(
        body,
        FINISHED_METADATA,
        _compact(body.get("spec"), API_FINISHED_SPEC),
        _compact(status, keep),
    )


def api_trimmed(body: TaskBody) -> bool:
    """Whether the API's lean body of this task lacks what ``GET /tasks/{id}`` shows (a
    finished task's input, result, metrics and attempts)."""
    return _finished(cast(Body, body))
