"""The orchestrator configuration: API form (snake_case) <-> CRD spec (camelCase),
defaults, validation and the settings the operator acts on."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from web4ai.core.crs import OrchestratorSpec
from web4ai.core.defaults import SPEC_DEFAULTS
from web4ai.core.egress import EgressPolicy
from web4ai.core.model import Algorithm, Thresholds
from web4ai.core.recommending import Targets
from web4ai.core.schemas.config import CONFIG_SECTIONS, config_errors
from web4ai.core.validation import FieldError

_CAMEL_RE = re.compile(r"_([a-z0-9])")
_SNAKE_RE = re.compile(r"([A-Z])")


def to_camel(key: str) -> str:
    return _CAMEL_RE.sub(lambda m: m.group(1).upper(), key)


def to_snake(key: str) -> str:
    return _SNAKE_RE.sub(lambda m: "_" + m.group(1).lower(), key)


def convert_keys(value: Any, convert: Any) -> Any:
    """Rename the keys of nested dicts (lists are kept as they are)."""
    if isinstance(value, dict):
        return {convert(k): convert_keys(v, convert) for k, v in value.items()}
    return value


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """A new dict: ``update`` merged into ``base``; nested dicts merge, the rest replaces."""
    merged = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


# The CRD's defaults (web4ai/core/defaults.py is generated from crds/) are Settings' defaults.
_ORCH, _NET, _PERF, _SEC, _WS = (
    SPEC_DEFAULTS[k] for k in ("orchestrator", "network", "performance", "security", "websocket")
)

_ALGORITHM = Algorithm(_NET["loadBalanceAlgorithm"])


def _default_thresholds() -> Thresholds:
    return Thresholds(cpu=float(_PERF["cpuThreshold"]), memory=float(_PERF["memoryThreshold"]))


def _default_targets() -> Targets:
    return Targets(
        response_time_ms=float(_PERF["targetResponseTimeMs"]),
        utilization=float(_PERF["targetUtilization"]),
        min_nodes=int(_NET["minNodes"]),
        max_nodes=int(_NET["maxNodes"]),
    )


@dataclass(frozen=True)
class Settings:
    """What the operator acts on, from a Web4AIOrchestrator spec."""

    paused: bool = bool(SPEC_DEFAULTS["paused"])
    heartbeat_interval: float = float(_ORCH["heartbeatInterval"])
    max_heartbeats_per_second: float = float(_NET["maxHeartbeatsPerSecond"])
    # share of nodes silent at once that means "our fault"
    disruption_threshold: float = float(_ORCH["disruptionThreshold"])
    # no node goes offline for this x heartbeat_interval
    disruption_grace_intervals: float = float(_ORCH["disruptionGraceIntervals"])
    task_retention: float = float(_ORCH["taskRetention"])
    max_retained_tasks: int = int(_ORCH["maxRetainedTasks"])
    algorithm: Algorithm = _ALGORITHM
    thresholds: Thresholds = field(default_factory=_default_thresholds)
    allow_private_callbacks: bool = bool(_SEC["allowPrivateCallbacks"])
    auto_discovery: bool = bool(_ORCH["autoDiscovery"])
    discovery_endpoints: tuple[str, ...] = tuple(_NET["discoveryEndpoints"])
    monitoring_enabled: bool = bool(_PERF["monitoringEnabled"])
    optimization_enabled: bool = bool(_PERF["optimizationEnabled"])
    targets: Targets = field(default_factory=_default_targets)
    websocket_enabled: bool = bool(_WS["enabled"])
    callback_allowed_networks: tuple[str, ...] = tuple(_SEC.get("callbackAllowedNetworks", ()))
    callback_allowed_hosts: tuple[str, ...] = tuple(_SEC.get("callbackAllowedHosts", ()))
    max_agents_per_node: int = int(_SEC["maxAgentsPerNode"])
    orchestrator_id: str = str(_ORCH["id"])
    task_timeout: int = int(_ORCH["taskTimeout"])  # seconds, for a task that sets none
    api_key_required: bool = bool(_SEC["apiKeyRequired"])
    max_requests_per_minute: int = int(_SEC["maxRequestsPerMinute"])
    max_body_bytes: int = int(_SEC["maxBodyBytes"])
    websocket_port: int = int(_WS["port"])
    max_connections: int = int(_WS["maxConnections"])
    model_aware_routing: bool = bool(_NET["modelAwareRouting"])
    affinity_epsilon: float = float(_NET["affinityEpsilon"])

    def egress_policy(self) -> EgressPolicy:
        """The callback egress policy these settings describe."""
        return EgressPolicy.build(
            self.allow_private_callbacks,
            self.callback_allowed_networks,
            self.callback_allowed_hosts,
        )


def settings_from_spec(spec: OrchestratorSpec | None) -> Settings:
    """The typed settings of a Web4AIOrchestrator spec: the one way settings are read
    (an unset setting is the CRD's default)."""
    spec = spec or {}
    orch = spec.get("orchestrator") or {}
    net = spec.get("network") or {}
    perf = spec.get("performance") or {}
    sec = spec.get("security") or {}
    ws = spec.get("websocket") or {}
    default = Settings()
    return Settings(
        paused=bool(spec.get("paused", default.paused)),
        heartbeat_interval=float(orch.get("heartbeatInterval", default.heartbeat_interval)),
        max_heartbeats_per_second=float(
            net.get("maxHeartbeatsPerSecond", default.max_heartbeats_per_second)
        ),
        disruption_threshold=float(orch.get("disruptionThreshold", default.disruption_threshold)),
        disruption_grace_intervals=float(
            orch.get("disruptionGraceIntervals", default.disruption_grace_intervals)
        ),
        task_retention=float(orch.get("taskRetention", default.task_retention)),
        max_retained_tasks=int(orch.get("maxRetainedTasks", default.max_retained_tasks)),
        algorithm=Algorithm(net.get("loadBalanceAlgorithm", default.algorithm.value)),
        thresholds=Thresholds(
            cpu=float(perf.get("cpuThreshold", default.thresholds.cpu)),
            memory=float(perf.get("memoryThreshold", default.thresholds.memory)),
        ),
        allow_private_callbacks=bool(
            sec.get("allowPrivateCallbacks", default.allow_private_callbacks)
        ),
        auto_discovery=bool(orch.get("autoDiscovery", default.auto_discovery)),
        discovery_endpoints=tuple(net.get("discoveryEndpoints") or ()),
        monitoring_enabled=bool(perf.get("monitoringEnabled", default.monitoring_enabled)),
        optimization_enabled=bool(perf.get("optimizationEnabled", default.optimization_enabled)),
        targets=Targets(
            response_time_ms=float(
                perf.get("targetResponseTimeMs", default.targets.response_time_ms)
            ),
            utilization=float(perf.get("targetUtilization", default.targets.utilization)),
            min_nodes=int(net.get("minNodes", default.targets.min_nodes)),
            max_nodes=int(net.get("maxNodes", default.targets.max_nodes)),
        ),
        websocket_enabled=bool(ws.get("enabled", default.websocket_enabled)),
        callback_allowed_networks=tuple(str(n) for n in sec.get("callbackAllowedNetworks") or ()),
        callback_allowed_hosts=tuple(str(h) for h in sec.get("callbackAllowedHosts") or ()),
        max_agents_per_node=int(sec.get("maxAgentsPerNode", default.max_agents_per_node)),
        orchestrator_id=str(orch.get("id", default.orchestrator_id)),
        task_timeout=int(orch.get("taskTimeout", default.task_timeout)),
        api_key_required=bool(sec.get("apiKeyRequired", default.api_key_required)),
        max_requests_per_minute=int(
            sec.get("maxRequestsPerMinute", default.max_requests_per_minute)
        ),
        max_body_bytes=int(sec.get("maxBodyBytes", default.max_body_bytes)),
        websocket_port=int(ws.get("port", default.websocket_port)),
        max_connections=int(ws.get("maxConnections", default.max_connections)),
        model_aware_routing=bool(net.get("modelAwareRouting", default.model_aware_routing)),
        affinity_epsilon=float(net.get("affinityEpsilon", default.affinity_epsilon)),
    )


# -- the API form: validation of GET/PUT /config documents -------------------

# the settings of each section, from the models of web4ai.core.schemas
CONFIG_KEYS: dict[str, tuple[str, ...]] = {
    section: tuple(model.model_fields) for section, model in CONFIG_SECTIONS.items()
}


def validate_config(doc: Any) -> list[FieldError]:
    """Every problem of a whole config document in API form (unknown keys included)."""
    if not isinstance(doc, dict):
        return [FieldError("config", "must be an object")]
    errors = config_errors(doc)
    net = doc.get("network") or {}
    if (
        isinstance(net, dict)
        and isinstance(net.get("min_nodes"), int)
        and isinstance(net.get("max_nodes"), int)
        and net["min_nodes"] > net["max_nodes"]
    ):
        errors.append(FieldError("network.min_nodes", "must not exceed network.max_nodes"))
    return errors


def spec_to_config(spec: Mapping[str, Any] | None) -> dict[str, Any]:
    """A Web4AIOrchestrator spec as the API shows it (without the paused flag)."""
    doc = convert_keys({k: val for k, val in (spec or {}).items() if k != "paused"}, to_snake)
    return {k: val for k, val in doc.items() if k in CONFIG_KEYS}


def config_to_spec(doc: dict[str, Any]) -> dict[str, Any]:
    return convert_keys(doc, to_camel)  # type: ignore[no-any-return]
