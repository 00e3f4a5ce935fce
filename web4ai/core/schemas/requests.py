"""The request models (pydantic v2): one model per body, its fields named as the API
speaks them (snake_case) with the custom resources' camelCase names as aliases, so that
a request becomes its Web4AINode/Web4AITask spec by ``model_dump``.

Validation is strict: no "1" for a number, no true for an integer (an integral float
such as 5.0 is an integer), no NaN or infinity, unknown fields are ignored and a null
is an absent field. Pure."""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar, cast

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from web4ai.core import limits as lim
from web4ai.core.crs import NodeSpec, TaskSpec
from web4ai.core.schemas.fields import (
    CallbackUrl,
    Capacity,
    Count,
    DrainDeadline,
    ErrorText,
    InputData,
    LongName,
    LongName1,
    LongNames,
    Metadata,
    Name,
    Name1,
    Names,
    NodeId,
    NodeNames,
    NodeStatusName,
    NonNegative,
    Percent,
    Port,
    Priority,
    Result,
    Retries,
    Running,
    TaskId,
    Timeout,
    Timestamp,
    fits,
    plain_str,
)

A = TypeVar("A", bound=BaseModel)

# (tests/unit/test_crs_agree_with_crds.py checks these against the enums)


class Request(BaseModel):
    """A request body: snake_case names in, camelCase aliases out (the CR spec)."""

    model_config = ConfigDict(
        strict=True,
        extra="ignore",
        allow_inf_nan=False,
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=False,
        serialize_by_alias=True,
    )

    @model_validator(mode="before")
    @classmethod
    def _null_is_absent(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: val for k, val in data.items() if val is not None}
        return data

    def cr(self) -> dict[str, Any]:
        """The fields that were given, under their custom-resource (camelCase) names."""
        return self.model_dump(by_alias=True, exclude_unset=True)


class Agent(Request):
    agent_id: LongName1
    agent_type: Name | None = None
    capabilities: LongNames | None = None
    specialized_models: LongNames | None = None
    loaded_models: LongNames | None = None  # held loaded now (documented addition)


class AgentModels(Request):
    """An agent's models in a heartbeat (documented addition)."""

    agent_id: LongName1
    specialized_models: LongNames | None = None
    loaded_models: LongNames | None = None


def _agents_fit(agents: list[A]) -> list[A]:
    fits(lim.AGENTS_MAX_BYTES)([a.model_dump(exclude_unset=True) for a in agents])
    return agents


Agents = Annotated[list[Agent], Field(max_length=lim.AGENTS_MAX), AfterValidator(_agents_fit)]
AgentsModels = Annotated[
    list[AgentModels], Field(max_length=lim.AGENTS_MAX), AfterValidator(_agents_fit)
]


class Registration(Request):
    """POST /nodes/{node_id}/register."""

    host: LongName1
    port: Port | None = None
    node_type: Name | None = None
    capabilities: Names | None = None
    agents_count: Count | None = None
    max_concurrent_tasks: Capacity | None = None
    version: Name | None = None
    location: LongName | None = None
    metadata: Metadata | None = None
    agents: Agents | None = None
    boot_id: Name1 | None = None  # one per process start of the node

    def spec(self, node_id: str) -> NodeSpec:
        """The Web4AINode spec this registration asks for."""
        spec = {"nodeId": node_id, **self.cr()}
        if self.agents is not None:
            spec.setdefault("agentsCount", len(self.agents) or 1)
        return cast(NodeSpec, spec)


# heartbeat fields written into the node's status as they are (camelCase)
HEARTBEAT_STATUS = (
    "cpu_usage",
    "memory_usage",
    "gpu_usage",
    "load_score",
    "network_latency",
    "uptime",
    "tasks_running",
)


class Heartbeat(Request):
    """POST /nodes/{node_id}/heartbeat."""

    status: NodeStatusName | None = None
    cpu_usage: Percent | None = None
    memory_usage: Percent | None = None
    gpu_usage: Percent | None = None
    load_score: NonNegative | None = None
    tasks_running: Running | None = None
    network_latency: NonNegative | None = None
    memory_total_mb: NonNegative | None = None
    uptime: NonNegative | None = None
    agents_status: Metadata | None = None
    agents: AgentsModels | None = None  # each agent's models now (documented addition)
    timestamp: Timestamp | None = None

    def status_fields(self) -> dict[str, Any]:
        """The reported numbers as the node's status fields (camelCase)."""
        new = self.model_dump(by_alias=True, include=set(HEARTBEAT_STATUS), exclude_none=True)
        if self.agents is not None:
            new["agents"] = [a.cr() for a in self.agents]
        agents = dict(self.agents_status or {})
        if self.memory_total_mb is not None:
            agents["memory_total_mb"] = self.memory_total_mb
        if agents:
            new["agentsStatus"] = agents
        return new


class StatusUpdate(Request):
    """PUT /nodes/{node_id}/status."""

    status: NodeStatusName


class Drain(Request):
    """POST /nodes/{node_id}/drain."""

    deadline: DrainDeadline | None = None  # seconds from now


class Requirements(Request):
    capabilities: Names | None = None
    min_cpu: Percent | None = None
    min_memory: NonNegative | None = None
    preferred_nodes: NodeNames | None = None
    exclude_nodes: NodeNames | None = None
    model: Annotated[str, plain_str(lim.MODEL_MAX, 1)] | None = None  # documented addition
    affinity_key: Annotated[str, plain_str(lim.AFFINITY_KEY_MAX, 1)] | None = None  # the same


class TaskSubmit(Request):
    """POST /tasks."""

    task_id: TaskId | None = None
    task_type: Name1
    priority: Priority | None = None
    requirements: Requirements | None = None
    input_data: InputData | None = None
    timeout: Timeout | None = None
    max_retries: Retries | None = None
    deadline: NonNegative | None = None
    callback_url: CallbackUrl | None = None
    metadata: Metadata | None = None

    def spec(self, task_id: str, default_timeout: int, submitted_at: str) -> TaskSpec:
        """The Web4AITask spec of this submission."""
        spec = {
            **self.cr(),
            "taskId": task_id,
            "submittedAt": submitted_at,
            "timeout": self.timeout if self.timeout is not None else default_timeout,
        }
        return cast(TaskSpec, spec)


class TaskStart(Request):
    """POST /tasks/{task_id}/start (node protocol)."""

    node_id: NodeId
    agent_id: LongName | None = None


class TaskProgress(Request):
    """POST /tasks/{task_id}/progress (node protocol; documented addition)."""

    node_id: NodeId
    percent: Percent
    message: Annotated[str, plain_str(lim.PROGRESS_MESSAGE_MAX)] | None = None


class TaskResult(Request):
    """POST /tasks/{task_id}/result (node protocol). A result may finish a task the node
    never started (an instant task: one write, not two); ``agent_id`` then names the
    agent that ran it, as /start's would have."""

    node_id: NodeId
    status: Literal["completed", "failed"]
    result: Result = None
    error_message: ErrorText | None = None
    execution_time: NonNegative | None = None
    performance_metrics: Metadata | None = None
    agent_id: LongName | None = None
