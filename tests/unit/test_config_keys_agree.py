"""Every config key lives in every place config keys live: the API schema
(web4ai/core/config.py), the CRD, the documented template, the chart's values and
values.schema.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from web4ai.core.config import CONFIG_KEYS, to_camel
from web4ai.core.configdoc import CONFIG_TEMPLATE

REPO = Path(__file__).resolve().parents[2]
CRD = yaml.safe_load((REPO / "crds/web4aiorchestrators.yaml").read_text())
CRD_SPEC = CRD["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
VALUES = yaml.safe_load((REPO / "helm/web4ai/values.yaml").read_text())["config"]
VALUES_SCHEMA = json.loads((REPO / "helm/web4ai/values.schema.json").read_text())
TEMPLATE = yaml.safe_load(CONFIG_TEMPLATE)
KEYS = [(section, key) for section, schema in CONFIG_KEYS.items() for key in schema]


@pytest.mark.parametrize(("section", "key"), KEYS, ids=[f"{s}.{k}" for s, k in KEYS])
def test_the_key_is_everywhere(section: str, key: str) -> None:
    camel = to_camel(key)
    assert camel in CRD_SPEC["properties"][section]["properties"], "crds/"
    assert key in TEMPLATE[section], "configdoc"
    chart = VALUES_SCHEMA["properties"]["config"]["properties"][section]["properties"]
    assert camel in chart, "values.schema.json"


@pytest.mark.parametrize("key", ["disruption_threshold", "disruption_grace_intervals"])
def test_the_disruption_keys_have_chart_values(key: str) -> None:
    assert to_camel(key) in VALUES["orchestrator"]
