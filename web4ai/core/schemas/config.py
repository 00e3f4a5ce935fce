"""The configuration document in API form (snake_case) and its validation: unknown
sections and settings are errors. Pure."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from web4ai.core.egress import network_problem
from web4ai.core.schemas.errors import field_error
from web4ai.core.schemas.fields import (
    AlgorithmName,
    Capacity,
    LongName1,
    Percent,
    Port,
    Timeout,
    integral,
    plain_str,
)
from web4ai.core.schemas.openapi import openapi_schema
from web4ai.core.schemas.requests import Request
from web4ai.core.validation import FieldError


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
    heartbeat_interval: Annotated[int, Field(ge=1, le=3600), BeforeValidator(integral)] | None = (
        None
    )
    disruption_threshold: Annotated[float, Field(ge=0, le=1)] | None = None
    disruption_grace_intervals: Annotated[float, Field(ge=0, le=100)] | None = None
    task_timeout: Timeout | None = None
    auto_discovery: bool | None = None
    task_retention: (
        Annotated[int, Field(ge=0, le=10 * 365 * 86400), BeforeValidator(integral)] | None
    ) = None
    max_retained_tasks: (
        Annotated[int, Field(ge=1, le=10_000_000), BeforeValidator(integral)] | None
    ) = None


class NetworkConfig(Section):
    discovery_endpoints: (
        Annotated[list[Annotated[str, plain_str(2048, 1)]], Field(max_length=256)] | None
    ) = None
    load_balance_algorithm: AlgorithmName | None = None
    max_nodes: Annotated[int, Field(ge=1, le=1_000_000), BeforeValidator(integral)] | None = None
    min_nodes: Annotated[int, Field(ge=0, le=1_000_000), BeforeValidator(integral)] | None = None
    max_heartbeats_per_second: Annotated[float, Field(ge=1, le=100_000)] | None = None
    model_aware_routing: bool | None = None
    affinity_epsilon: Annotated[float, Field(ge=0, le=10)] | None = None


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
        Annotated[int, Field(ge=1, le=10_000_000), BeforeValidator(integral)] | None
    ) = None
    max_body_bytes: (
        Annotated[int, Field(ge=1024, le=64 * 1024 * 1024), BeforeValidator(integral)] | None
    ) = None
    allow_private_callbacks: bool | None = None
    callback_allowed_networks: (
        Annotated[
            list[Annotated[str, plain_str(64, 1)]], Field(max_length=256), AfterValidator(_cidrs)
        ]
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
