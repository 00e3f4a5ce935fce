"""The custom resources read under the API's names (TypedDict views: validating one is
the renaming itself): a task and a node, for what the API shows of them
(``web4ai.core.schemas.public``). Pure."""

from __future__ import annotations

from typing import Any, Required

from pydantic import ConfigDict, TypeAdapter, with_config
from pydantic.alias_generators import to_camel
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

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


@with_config(VIEW)
class AgentView(TypedDict, total=False):
    """An agent of ``spec.agents`` with what the latest heartbeat reported of it
    (``status.agents``): ``web4ai.core.routing.agents_now``."""

    agent_id: Required[str]
    agent_type: str | None
    capabilities: list[str] | None
    specialized_models: list[str] | None
    loaded_models: list[str] | None


@with_config(VIEW)
class NodeSpecView(TypedDict, total=False):
    """``Web4AINode.spec`` under the API's names (its agents: ``AgentView``)."""

    node_id: Required[str]
    host: Required[str]
    port: int | None
    node_type: str | None
    capabilities: list[str] | None
    agents_count: int | None
    version: str | None
    location: str | None
    metadata: dict[str, Any] | None


@with_config(VIEW)
class DrainingView(TypedDict, total=False):
    requested_at: str | None
    deadline: Number | None


@with_config(VIEW)
class NodeStatusView(TypedDict, total=False):
    """``Web4AINode.status`` under the API's names; times stay RFC 3339 strings."""

    status: str | None
    admin_status: str | None
    reported_status: str | None
    draining: DrainingView | None
    cpu_usage: Number
    memory_usage: Number
    gpu_usage: Number
    load_score: Number
    reliability_score: Number
    network_latency: Number | None
    uptime: Number | None
    tasks_completed: int
    tasks_failed: int
    registered_at: str | None


@with_config(VIEW)
class NodeView(TypedDict, total=False):
    spec: Required[NodeSpecView]
    status: NodeStatusView | None
    agents: list[AgentView]  # not stored as such: ``agents_now`` of the two lists


NODE_VIEW = TypeAdapter(NodeView)
