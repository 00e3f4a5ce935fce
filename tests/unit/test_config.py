"""The configuration document: defaults, validation, snake/camel mapping."""

from __future__ import annotations

import yaml

from web4ai.core.config import (
    config_to_spec,
    deep_merge,
    settings_from_spec,
    spec_to_config,
    validate_config,
)
from web4ai.core.configdoc import CONFIG_TEMPLATE
from web4ai.core.model import Algorithm


def test_generated_template_is_valid_and_documents_every_setting() -> None:
    from web4ai.core.config import CONFIG_KEYS

    doc = yaml.safe_load(CONFIG_TEMPLATE)
    assert validate_config(doc) == []
    for section, schema in CONFIG_KEYS.items():
        assert set(doc[section]) == set(schema), section


def test_round_trip_between_api_form_and_spec() -> None:
    doc = yaml.safe_load(CONFIG_TEMPLATE)
    spec = config_to_spec(doc)
    assert spec["orchestrator"]["heartbeatInterval"] == 30
    assert spec["network"]["loadBalanceAlgorithm"] == "weighted_round_robin"
    assert spec_to_config({**spec, "paused": True}) == doc


def test_validation_reports_every_problem() -> None:
    errors = validate_config(
        {
            "network": {
                "load_balance_algorithm": "random",
                "typo": 1,
                "min_nodes": 5,
                "max_nodes": 2,
            },
            "performance": {"cpu_threshold": 101},
            "extra": {},
            "security": {"api_key_required": "yes"},
        }
    )
    fields = {e.field for e in errors}
    assert fields == {
        "network.load_balance_algorithm",
        "network.typo",
        "network.min_nodes",
        "performance.cpu_threshold",
        "extra",
        "security.api_key_required",
    }


def test_deep_merge_keeps_siblings() -> None:
    base = {"network": {"a": 1, "b": 2}, "x": [1]}
    assert deep_merge(base, {"network": {"b": 3}, "x": [2]}) == {
        "network": {"a": 1, "b": 3},
        "x": [2],
    }
    assert base == {"network": {"a": 1, "b": 2}, "x": [1]}


def test_settings_from_spec_defaults_and_values() -> None:
    s = settings_from_spec(None)
    assert (s.paused, s.heartbeat_interval, s.algorithm) == (
        False,
        30.0,
        Algorithm.WEIGHTED_ROUND_ROBIN,
    )
    s = settings_from_spec(
        {
            "paused": True,
            "network": {"loadBalanceAlgorithm": "round_robin"},
            "performance": {"cpuThreshold": 50},
        }
    )
    assert (s.paused, s.algorithm, s.thresholds.cpu) == (True, Algorithm.ROUND_ROBIN, 50.0)
