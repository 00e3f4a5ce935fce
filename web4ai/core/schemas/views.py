"""The custom resources read under the API's names (TypedDict views: validating one is
the renaming itself), and a task as the API shows it. Pure."""

from __future__ import annotations

from typing import Any, Required

from pydantic import ConfigDict, TypeAdapter, with_config
from pydantic.alias_generators import to_camel
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from web4ai.core.bodies import parse_time, submitted_at, task_node, task_phase
from web4ai.core.crs import TaskBody
from web4ai.core.defaults import TASK_SPEC_DEFAULTS as TASK

VIEW = ConfigDict(
    alias_generator=to_camel, validate_by_alias=True, validate_by_name=False, extra="ignore"
)
Number = int | float  # kept as stored (no 20 -> 20.0)

# TypedDicts (not models): validating one is the renaming itself, in one call, with no
# model instances to build; lax, since the API server has checked the types.


@with_config(VIEW)
class RequirementsView(TypedDict, total=False):
    capabilities: list[str]
    min_cpu: Number
    min_memory: Number
    preferred_nodes: list[str]
    exclude_nodes: list[str]
    model: str
    affinity_key: str


@with_config(VIEW)
class ProgressView(TypedDict, total=False):
    percent: Number
    message: str
    updated_at: str


@with_config(VIEW)
class TaskSpecView(TypedDict, total=False):
    """``Web4AITask.spec`` under the API's names."""

    task_id: Required[str]
    task_type: Required[str]
    priority: int
    timeout: int
    max_retries: int
    requirements: RequirementsView
    input_data: dict[str, Any] | None
    metadata: dict[str, Any] | None
    deadline: Number | None
    callback_url: str | None
    submitted_at: str


@with_config(VIEW)
class AttemptView(TypedDict, total=False):
    node_id: str | None
    agent_id: str | None
    assigned_at: str | None
    started_at: str | None
    finished_at: str | None
    outcome: str | None
    error_message: str | None
    error: str | None  # stored by an earlier version


@with_config(VIEW)
class TaskStatusView(TypedDict, total=False):
    """``Web4AITask.status`` under the API's names; times stay RFC 3339 strings."""

    node_id: str | None
    agent_id: str | None
    retry_count: int
    assigned_at: str | None
    started_at: str | None
    completed_at: str | None
    execution_time: Number | None
    result: Any
    error_message: str | None
    performance_metrics: dict[str, Any] | None
    conditions: list[dict[str, Any]] | None  # why a pending task waits (scheduler)
    attempts: list[AttemptView]
    progress: ProgressView | None


@with_config(VIEW)
class TaskView(TypedDict, total=False):
    spec: Required[TaskSpecView]
    status: TaskStatusView | None


TASK_VIEW = TypeAdapter(TaskView)
# what the API shows when the stored spec or status lacks it (the CRD's defaults)
TASK_DEFAULTS: dict[str, Any] = {
    "priority": TASK["priority"],
    "timeout": TASK["timeout"],
    "max_retries": TASK["maxRetries"],
    "requirements": TASK["requirements"],
    "input_data": {},
    "metadata": {},
    "retry_count": 0,
    "node_id": None,
    "agent_id": None,
}
TASK_TIMES = ("assigned_at", "started_at", "completed_at")
ATTEMPT_TIMES = ("assigned_at", "started_at", "finished_at")


def _attempt(view: dict[str, Any]) -> dict[str, Any]:
    error = view.pop("error", None)
    out: dict[str, Any] = {
        "node_id": None,
        "agent_id": None,
        "outcome": None,
        **view,
        "error_message": view.get("error_message") or error,
    }
    for key in ATTEMPT_TIMES:
        out[key] = parse_time(view.get(key))
    return out


def task_public(body: TaskBody) -> dict[str, Any]:
    """A task as the API shows it (GET /tasks/{id}, callbacks): the spec and status
    under the API's names (``TaskView``: camelCase aliases), the
    phase, the holder and the times as Unix seconds."""
    view = TASK_VIEW.validate_python(body)
    status: dict[str, Any] = dict(view.get("status") or {})
    phase, node = task_phase(body), task_node(body)
    out: dict[str, Any] = {**TASK_DEFAULTS}
    out.update((k, v) for k, v in view["spec"].items() if v is not None)
    out.pop("submitted_at", None)
    out |= {
        "status": phase.status.value,
        "phase": phase.value,
        "assigned_nodes": [node] if node and not phase.waiting else [],
        "created_at": submitted_at(body),
        "attempts": [_attempt(dict(a)) for a in status.pop("attempts", None) or []],
    }
    for key in TASK_TIMES:
        value = parse_time(status.pop(key, None))
        if value is not None:
            out[key] = value
    if status.get("progress"):
        progress = dict(status.pop("progress") or {})
        out["progress"] = {**progress, "updated_at": parse_time(progress.get("updated_at"))}
    out.update((k, v) for k, v in status.items() if v is not None)
    return out
