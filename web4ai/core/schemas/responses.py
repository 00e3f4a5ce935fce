"""The response models, for the OpenAPI document (the handlers build plain dicts). Pure."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from web4ai.core.schemas.fields import PhaseName


class Response(BaseModel):
    model_config = ConfigDict(extra="allow")


class Ok(Response):
    success: Literal[True]
    message: str | None = None


class Attempt(Response):
    node_id: str | None
    agent_id: str | None = None
    assigned_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    outcome: Literal["completed", "failed", "cancelled", "requeued"] | None = None
    error_message: str | None = None


class Progress(Response):
    """The holding node's latest progress report, as written (at most every 2 s)."""

    percent: float
    message: str | None = None
    updated_at: float | None = None


class ProgressAnswer(Ok):
    task_id: str
    progress: Progress


class Task(Response):
    """A task as the API shows it (``web4ai.core.schemas.public.task_public``)."""

    task_id: str
    task_type: str
    status: Literal["pending", "active", "completed", "failed"]
    phase: PhaseName
    priority: int
    assigned_nodes: list[str]
    created_at: float
    timeout: int
    max_retries: int
    retry_count: int
    node_id: str | None
    agent_id: str | None
    requirements: dict[str, Any]
    input_data: dict[str, Any]
    metadata: dict[str, Any]
    attempts: list[Attempt]
    deadline: float | None = None
    callback_url: str | None = None
    assigned_at: float | None = None
    started_at: float | None = None
    completed_at: float | None = None
    execution_time: float | None = None
    result: Any = None
    error_message: str | None = None
    performance_metrics: dict[str, Any] | None = None
    conditions: list[dict[str, Any]] | None = None
    progress: Progress | None = None


class Submitted(Ok):
    task_id: str


class TaskAnswer(Ok):
    task: Task


class Registered(Ok):
    node_id: str
    heartbeat_interval: float
    # no node should beat more often: live nodes / network.max_heartbeats_per_second
    min_heartbeat_interval: float | None = None


class HeartbeatAnswer(Ok):
    heartbeat_interval: float
    min_heartbeat_interval: float | None = None
    cancelled_tasks: list[str]


class NodeStatusAnswer(Ok):
    old_status: str | None
    new_status: str | None


class Drained(Ok):
    node_id: str
    tasks_running: int
    deadline: float | None


class AssignedTasks(Ok):
    tasks: list[Task]
    cancelled_tasks: list[str]


class TaskEntry(Response):
    """A task in the GET /tasks listing: the fields its group shows (see the contract)."""

    task_id: str
    task_type: str
    status: Literal["pending", "active", "completed", "failed"]
    phase: PhaseName
    priority: int | None = None
    created_at: float | None = None


class TaskList(Ok):
    tasks: dict[Literal["pending", "active", "completed", "failed"], list[TaskEntry]]
    summary: dict[str, int]


class NodeList(Ok):
    nodes: dict[str, dict[str, Any]]
    total_nodes: int
    active_nodes: int


class NodeAnswer(Ok):
    node: dict[str, Any]


class Health(Response):
    status: Literal["healthy", "starting"]
    orchestrator_id: str
    timestamp: str
    version: str
    system: dict[str, Any]


class NetworkStatus(Ok):
    data: dict[str, Any]
    api_stats: dict[str, Any]


class MetricsAnswer(Ok):
    metrics: dict[str, Any]


class PerformanceAnswer(Ok):
    performance_analysis: dict[str, Any]


class HistoryAnswer(Ok):
    interval: float
    window: float
    samples: list[dict[str, Any]]


class WhoAmI(Ok):
    api_key_required: bool
    authenticated: bool
    name: str | None
    role: Literal["admin", "read-only", "node"] | None
    node_id: str | None


class WebsocketAnswer(Ok):
    websocket: dict[str, Any]


class ControlAnswer(Ok):
    orchestrator_id: str


class ConfigAnswer(Ok):
    config: dict[str, dict[str, Any]]
    # the interval nodes are told now (max(heartbeat_interval, live nodes /
    # max_heartbeats_per_second)) and what it comes from
    heartbeats: dict[str, Any] | None = None
