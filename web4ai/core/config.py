"""The orchestrator configuration: API form (snake_case) <-> CRD spec (camelCase),
defaults, validation and the settings the operator acts on."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from web4ai.core.model import Algorithm, Thresholds

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


@dataclass(frozen=True)
class Settings:
    """What the operator acts on, from a Web4AIOrchestrator spec."""

    paused: bool = False
    heartbeat_interval: float = 30.0
    task_retention: float = 3600.0
    algorithm: Algorithm = Algorithm.WEIGHTED_ROUND_ROBIN
    thresholds: Thresholds = field(default_factory=Thresholds)
    allow_private_callbacks: bool = False


def settings_from_spec(spec: dict[str, Any] | None) -> Settings:
    spec = spec or {}
    orch = spec.get("orchestrator") or {}
    net = spec.get("network") or {}
    perf = spec.get("performance") or {}
    sec = spec.get("security") or {}
    default = Settings()
    return Settings(
        paused=bool(spec.get("paused", False)),
        heartbeat_interval=float(orch.get("heartbeatInterval", default.heartbeat_interval)),
        task_retention=float(orch.get("taskRetention", default.task_retention)),
        algorithm=Algorithm(net.get("loadBalanceAlgorithm", default.algorithm.value)),
        thresholds=Thresholds(
            cpu=float(perf.get("cpuThreshold", default.thresholds.cpu)),
            memory=float(perf.get("memoryThreshold", default.thresholds.memory)),
        ),
        allow_private_callbacks=bool(sec.get("allowPrivateCallbacks", False)),
    )
