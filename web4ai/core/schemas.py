"""The API's request and response models (pydantic v2): one model per body, its fields
named as the API speaks them (snake_case) with the custom resources' camelCase names as
aliases, so that a request becomes its Web4AINode/Web4AITask spec by ``model_dump``
instead of hand-written mappers. The OpenAPI document is generated from them
(``openapi_schema``), and a validation error becomes the documented 400
``INVALID_REQUEST`` with one ``{field, message}`` per wrong field (``parse``).

Validation is strict, as before: no "1" for a number, no true for an integer (an
integral float such as 5.0 is an integer), no NaN or infinity, unknown fields are
ignored and a null is an absent field. Bounds come from ``web4ai.core.limits``.
``bench/models.py`` measured pydantic against msgspec and the hand-written code.
Pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any, Literal, Required, TypeVar, cast

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    model_validator,
    with_config,
)
from pydantic.alias_generators import to_camel
from pydantic_core import ErrorDetails
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from web4ai.core import limits as lim
from web4ai.core.callbacks import url_problem
from web4ai.core.crs import NodeSpec, TaskSpec
from web4ai.core.egress import network_problem
from web4ai.core.ids import IdKind, InvalidId, validate_id
from web4ai.core.validation import FieldError, ValidationFailed, bounded_result, json_size, text

M = TypeVar("M", bound=BaseModel)


class Malformed(ValueError):
    """The body is not JSON at all (400 INVALID_JSON)."""


# -- field types ----------------------------------------------------------------------

NO_CONTROL = r"^[^\x00-\x1f]*$"
ID_PATTERN = "^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$"


def _integral(v: Any) -> Any:
    """5.0 is the integer 5 (JSON has one number type); anything else is left to the
    strict integer check."""
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def _str(max_len: int, min_len: int = 0) -> Any:
    """A string without control characters."""
    return Field(min_length=min_len, max_length=max_len, pattern=NO_CONTROL)


# strings and lists of them
Name = Annotated[str, _str(lim.NAME_MAX)]
Name1 = Annotated[str, _str(lim.NAME_MAX, 1)]
LongName = Annotated[str, _str(lim.LONG_NAME_MAX)]
LongName1 = Annotated[str, _str(lim.LONG_NAME_MAX, 1)]
Names = Annotated[list[Name1], Field(max_length=lim.CAPABILITIES_MAX)]
LongNames = Annotated[list[LongName1], Field(max_length=lim.CAPABILITIES_MAX)]
NodeNames = Annotated[
    list[Annotated[str, _str(lim.ID_MAX, 1)]], Field(max_length=lim.NODE_LIST_MAX)
]
# numbers
Port = Annotated[int, Field(ge=1, le=65535), BeforeValidator(_integral)]
Count = Annotated[int, Field(ge=0, le=100000), BeforeValidator(_integral)]
Capacity = Annotated[int, Field(ge=1, le=100000), BeforeValidator(_integral)]
Running = Annotated[int, Field(ge=0, le=1_000_000), BeforeValidator(_integral)]
Priority = Annotated[
    int, Field(ge=lim.PRIORITY_MIN, le=lim.PRIORITY_MAX), BeforeValidator(_integral)
]
Timeout = Annotated[int, Field(ge=lim.TIMEOUT_MIN, le=lim.TIMEOUT_MAX), BeforeValidator(_integral)]
Retries = Annotated[int, Field(ge=lim.RETRIES_MIN, le=lim.RETRIES_MAX), BeforeValidator(_integral)]
Percent = Annotated[float, Field(ge=0, le=100)]
NonNegative = Annotated[float, Field(ge=0)]
DrainDeadline = Annotated[float, Field(ge=0, le=604800)]


def _fits(max_bytes: int) -> Callable[[Any], Any]:
    def check(v: Any) -> Any:
        size = json_size(v)
        if size > max_bytes:
            raise ValueError(f"must be at most {max_bytes} bytes as JSON (is {size})")
        return v

    return check


Metadata = Annotated[dict[str, Any], AfterValidator(_fits(lim.METADATA_MAX_BYTES))]
InputData = Annotated[dict[str, Any], AfterValidator(_fits(lim.INPUT_DATA_MAX_BYTES))]


def _ident(kind: IdKind) -> Callable[[Any], str]:
    def check(v: Any) -> str:
        try:
            return validate_id(kind, v)
        except InvalidId as exc:
            raise ValueError(exc.reason) from None

    return check


ID_SCHEMA = {"type": "string", "minLength": 1, "maxLength": lim.ID_MAX, "pattern": ID_PATTERN}
TaskId = Annotated[str, AfterValidator(_ident(IdKind.TASK)), WithJsonSchema(ID_SCHEMA)]
NodeId = Annotated[str, AfterValidator(_ident(IdKind.NODE)), WithJsonSchema(ID_SCHEMA)]


def _callback_url(v: str) -> str:
    problem = url_problem(v)
    if problem:
        raise ValueError(problem)
    return v


CallbackUrl = Annotated[
    str,
    AfterValidator(_callback_url),
    WithJsonSchema({"type": "string", "format": "uri", "maxLength": lim.CALLBACK_URL_MAX}),
]


def _timestamp(v: Any) -> Any:
    if isinstance(v, bool) or not isinstance(v, str | int | float):
        raise ValueError("must be an ISO 8601 string or a Unix time")
    return v


Timestamp = Annotated[
    Any,
    AfterValidator(_timestamp),
    WithJsonSchema({"oneOf": [{"type": "string"}, {"type": "number"}]}),
]
ErrorText = Annotated[
    str,
    AfterValidator(text(lim.ERROR_MESSAGE_MAX)),
    WithJsonSchema({"type": "string", "description": f"cut to {lim.ERROR_MESSAGE_MAX} characters"}),
]
Result = Annotated[
    Any,
    AfterValidator(bounded_result),
    WithJsonSchema({"description": "any JSON; over the size limit it is kept as cut JSON text"}),
]
AlgorithmName = Literal[
    "round_robin",
    "weighted_round_robin",
    "least_connections",
    "resource_aware",
    "latency_optimized",
]
NodeStatusName = Literal["active", "degraded", "maintenance", "offline", "error"]
PhaseName = Literal["queued", "retrying", "assigned", "running", "completed", "failed", "cancelled"]
# (tests/unit/test_crs_agree_with_crds.py checks these against the enums)


# -- models ---------------------------------------------------------------------------


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


def _agents_fit(agents: list[Agent]) -> list[Agent]:
    _fits(lim.AGENTS_MAX_BYTES)([a.model_dump(exclude_unset=True) for a in agents])
    return agents


Agents = Annotated[list[Agent], Field(max_length=lim.AGENTS_MAX), AfterValidator(_agents_fit)]


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
    timestamp: Timestamp | None = None

    def status_fields(self) -> dict[str, Any]:
        """The reported numbers as the node's status fields (camelCase)."""
        new = self.model_dump(by_alias=True, include=set(HEARTBEAT_STATUS), exclude_none=True)
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


class TaskResult(Request):
    """POST /tasks/{task_id}/result (node protocol)."""

    node_id: NodeId
    status: Literal["completed", "failed"]
    result: Result = None
    error_message: ErrorText | None = None
    execution_time: NonNegative | None = None
    performance_metrics: Metadata | None = None


# -- the configuration document (GET/PUT /config, the config file) --------------------


def _cidrs(values: list[str]) -> list[str]:
    for value in values:
        problem = network_problem(value)
        if problem:
            raise ValueError(f"every item must be a CIDR network ({problem})")
    return values


class Section(Request):
    """A config section: unknown settings are errors, not ignored."""

    model_config = ConfigDict(extra="forbid")


class OrchestratorConfig(Section):
    id: LongName1 | None = None
    host: LongName1 | None = None
    port: Port | None = None
    heartbeat_interval: Annotated[int, Field(ge=1, le=3600), BeforeValidator(_integral)] | None = (
        None
    )
    disruption_threshold: Annotated[float, Field(ge=0, le=1)] | None = None
    disruption_grace_intervals: Annotated[float, Field(ge=0, le=100)] | None = None
    task_timeout: Timeout | None = None
    auto_discovery: bool | None = None
    task_retention: (
        Annotated[int, Field(ge=0, le=10 * 365 * 86400), BeforeValidator(_integral)] | None
    ) = None


class NetworkConfig(Section):
    discovery_endpoints: (
        Annotated[list[Annotated[str, _str(2048, 1)]], Field(max_length=256)] | None
    ) = None
    load_balance_algorithm: AlgorithmName | None = None
    max_nodes: Annotated[int, Field(ge=1, le=1_000_000), BeforeValidator(_integral)] | None = None
    min_nodes: Annotated[int, Field(ge=0, le=1_000_000), BeforeValidator(_integral)] | None = None


class PerformanceConfig(Section):
    monitoring_enabled: bool | None = None
    optimization_enabled: bool | None = None
    cpu_threshold: Percent | None = None
    memory_threshold: Percent | None = None
    target_response_time_ms: Annotated[float, Field(ge=1, le=3_600_000)] | None = None
    target_utilization: Annotated[float, Field(ge=0.01, le=1)] | None = None


class SecurityConfig(Section):
    api_key_required: bool | None = None
    max_requests_per_minute: (
        Annotated[int, Field(ge=1, le=10_000_000), BeforeValidator(_integral)] | None
    ) = None
    max_body_bytes: (
        Annotated[int, Field(ge=1024, le=64 * 1024 * 1024), BeforeValidator(_integral)] | None
    ) = None
    allow_private_callbacks: bool | None = None
    callback_allowed_networks: (
        Annotated[list[Annotated[str, _str(64, 1)]], Field(max_length=256), AfterValidator(_cidrs)]
        | None
    ) = None
    callback_allowed_hosts: Annotated[list[LongName1], Field(max_length=256)] | None = None
    max_agents_per_node: Capacity | None = None


class WebsocketConfig(Section):
    enabled: bool | None = None
    port: Port | None = None
    max_connections: Capacity | None = None


class Config(Section):
    """The configuration document in API form (snake_case); every section optional."""

    orchestrator: OrchestratorConfig = OrchestratorConfig()
    network: NetworkConfig = NetworkConfig()
    performance: PerformanceConfig = PerformanceConfig()
    security: SecurityConfig = SecurityConfig()
    websocket: WebsocketConfig = WebsocketConfig()

    @model_validator(mode="before")
    @classmethod
    def _null_is_absent(cls, data: Any) -> Any:
        return data  # a null section is not an absent one: it would delete the section


CONFIG_SECTIONS: dict[str, type[Section]] = {
    "orchestrator": OrchestratorConfig,
    "network": NetworkConfig,
    "performance": PerformanceConfig,
    "security": SecurityConfig,
    "websocket": WebsocketConfig,
}


def config_errors(doc: Any) -> list[FieldError]:
    """Every problem of a config document (a parsed dict), unknown keys included."""
    try:
        Config.model_validate(doc)
    except ValidationError as exc:
        schema = openapi_schema(Config)
        errors = []
        for detail in exc.errors(include_url=False):
            error = field_error(detail, schema)
            if detail["type"] == "extra_forbidden" and len(detail["loc"]) == 1:
                error = FieldError(error.field, "unknown section")
            errors.append(error)
        return errors
    return []


# -- custom resources read under the API's names -----------------------------------------


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


@with_config(VIEW)
class TaskView(TypedDict, total=False):
    spec: Required[TaskSpecView]
    status: TaskStatusView | None


TASK_VIEW = TypeAdapter(TaskView)
# what the API shows when the stored spec or status lacks it (the CRD's defaults)
TASK_DEFAULTS: dict[str, Any] = {
    "priority": 3,
    "timeout": 300,
    "max_retries": 3,
    "requirements": {},
    "input_data": {},
    "metadata": {},
    "retry_count": 0,
    "node_id": None,
    "agent_id": None,
}
TASK_TIMES = ("assigned_at", "started_at", "completed_at")
ATTEMPT_TIMES = ("assigned_at", "started_at", "finished_at")


# -- responses (for the OpenAPI document; the handlers build plain dicts) --------------


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


class Task(Response):
    """A task as the API shows it (``web4ai.k8s.resources.task_public``)."""

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


class Submitted(Ok):
    task_id: str


class TaskAnswer(Ok):
    task: Task


class Registered(Ok):
    node_id: str
    heartbeat_interval: float


class HeartbeatAnswer(Ok):
    heartbeat_interval: float
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


class ErrorDetail(BaseModel):
    code: str
    errors: list[dict[str, str]] | None = None


class Error(BaseModel):
    """The documented error envelope."""

    success: Literal[False]
    error: str
    timestamp: str
    details: ErrorDetail


# -- parsing ------------------------------------------------------------------------


def parse(model: type[M], raw: bytes) -> M:
    """``raw`` (a request body) as ``model``. An empty body is ``{}``. Raises
    ``Malformed`` for what is not JSON, ``ValidationFailed`` (one FieldError per wrong
    field, with messages as the API has always given them) for the rest."""
    try:
        return model.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        details = exc.errors(include_url=False)
    if details and details[0]["type"] == "json_invalid":
        # what the fast parser refuses and Python's json reads (a lone surrogate in a
        # traceback: JSON allows it) is read, and kept as U+FFFD where it is stored
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise Malformed(str(exc)) from None
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            details = exc.errors(include_url=False)
    schema = openapi_schema(model)
    raise ValidationFailed([field_error(d, schema) for d in details]) from None


def field_name(loc: tuple[int | str, ...]) -> str:
    """``("agents", 0, "agent_id")`` -> ``agents[0].agent_id``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def schema_at(schema: dict[str, Any], loc: tuple[int | str, ...]) -> dict[str, Any]:
    for part in loc:
        if isinstance(part, int):
            schema = schema.get("items", {})
        else:
            schema = schema.get("properties", {}).get(part, {})
    return schema


def _bound(x: float | None) -> str:
    return "inf" if x is None else f"{x:g}"


def message(err: ErrorDetails, schema: dict[str, Any]) -> str:
    """One wrong field's message, said from the field's own JSON schema."""
    kind = err["type"]
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "unknown setting"
    if kind == "value_error":
        return str(err.get("ctx", {}).get("error", err["msg"]))
    t = schema.get("type")
    if "enum" in schema:
        return "must be one of " + ", ".join(map(str, schema["enum"]))
    if t == "integer":
        return f"must be an integer from {schema.get('minimum')} to {schema.get('maximum')}"
    if t == "number":
        return f"must be a number from {_bound(schema.get('minimum'))} to " + _bound(
            schema.get("maximum")
        )
    if t == "string":
        if kind == "string_pattern_mismatch":
            return "must not contain control characters"
        if kind in ("string_too_short", "string_too_long"):
            return f"must be {schema.get('minLength', 0)} to {schema.get('maxLength')} characters"
        return "must be a string"
    if t == "array":
        if kind == "too_long":
            return f"must have at most {schema.get('maxItems')} items"
        items = "strings" if schema.get("items", {}).get("type") == "string" else "items"
        return f"must be a list of {items}"
    if t == "object":
        return "must be an object"
    if t == "boolean":
        return "must be true or false"
    return str(err["msg"])


def field_error(err: ErrorDetails, schema: dict[str, Any]) -> FieldError:
    loc = tuple(err["loc"])
    if not loc:
        return FieldError("body", "must be an object")
    inner = schema_at(schema, loc)
    if err["type"] != "missing" and isinstance(loc[-1], int):
        # a list item: "every item must be ..." on the list
        item = message(err, inner)
        return FieldError(field_name(loc[:-1]), f"every item {item}")
    return FieldError(field_name(loc), message(err, inner))


# -- JSON schemas for OpenAPI 3.0 ----------------------------------------------------

_SCHEMAS: dict[tuple[type[BaseModel], str], dict[str, Any]] = {}


def openapi_schema(model: type[BaseModel], mode: str = "validation") -> dict[str, Any]:
    """``model``'s JSON schema as OpenAPI 3.0 takes it: references inlined, ``X | None``
    as ``X`` (a null is an absent field), no titles. Cached per model."""
    key = (model, mode)
    if key not in _SCHEMAS:
        raw = model.model_json_schema(by_alias=False, mode=mode)  # type: ignore[arg-type]
        _SCHEMAS[key] = _openapi(raw, raw.get("$defs", {}))
    return _SCHEMAS[key]


def _openapi(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_openapi(x, defs) for x in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return _openapi(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
    out: dict[str, Any] = {}
    for k, val in node.items():
        if k in ("title", "$defs"):
            continue
        if k == "anyOf":
            options = [o for o in val if o != {"type": "null"}]
            if len(options) == 1:
                out.update(_openapi(options[0], defs))
                if len(options) < len(val):
                    out["nullable"] = True
                continue
            out["anyOf"] = _openapi(options, defs)
            if len(options) < len(val):
                out["nullable"] = True
            continue
        if k == "default" and val is None:
            continue
        if k == "const":
            out["enum"] = [val]
            continue
        out[k] = _openapi(val, defs)
    return out


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A request body's schema: validation mode."""
    return openapi_schema(model, "validation")


def response_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A response body's schema: serialization mode."""
    return openapi_schema(model, "serialization")
