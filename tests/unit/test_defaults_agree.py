"""One source for every default: the CRD (crds/web4aiorchestrators.yaml). Settings,
`web4ai --generate-config` and the chart's values.yaml all show its defaults; the
generated web4ai/core/defaults.py and values.schema.json's config block are what
`make manifests` writes."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, cast

import pytest
import yaml

from web4ai.core.config import Settings, settings_from_spec, to_camel
from web4ai.core.configdoc import CONFIG_TEMPLATE
from web4ai.core.crs import OrchestratorSpec

REPO = Path(__file__).resolve().parents[2]


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location(
        "generate_defaults", REPO / "hack" / "generate_defaults.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GENERATOR = _generator()
CRD_DEFAULTS: dict[str, Any] = GENERATOR.defaults(GENERATOR.spec_schema())
VALUES = yaml.safe_load((REPO / "helm/web4ai/values.yaml").read_text())["config"]


def leaves(doc: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if isinstance(value, dict):
            out |= leaves(value, f"{prefix}{key}.")
        else:
            out[prefix + key] = value
    return out


def test_the_generated_defaults_module_has_not_drifted() -> None:
    committed = (REPO / "web4ai/core/defaults.py").read_text()
    assert committed == GENERATOR.render(), "run `make manifests`"


def test_the_chart_values_schema_config_has_not_drifted() -> None:
    committed = (REPO / "helm/web4ai/values.schema.json").read_text()
    regenerated = GENERATOR.splice_values_schema(committed, GENERATOR.spec_schema())
    assert committed == regenerated, "run `make manifests`"


def test_settings_defaults_are_the_crd_defaults() -> None:
    assert (
        Settings()
        == settings_from_spec(cast(OrchestratorSpec, CRD_DEFAULTS))
        == settings_from_spec({})
    )


def test_generate_config_shows_the_crd_defaults() -> None:
    shown = leaves(
        {
            s: {to_camel(k): v for k, v in keys.items()}
            for s, keys in yaml.safe_load(CONFIG_TEMPLATE).items()
        }
    )
    crd = leaves({k: v for k, v in CRD_DEFAULTS.items() if k != "paused"})
    # settings the CRD gives no default (lists) are shown empty
    assert {k: v for k, v in shown.items() if k in crd} == crd
    assert all(v == [] for k, v in shown.items() if k not in crd)


@pytest.mark.parametrize("path", sorted(leaves(VALUES)))
def test_chart_values_are_the_crd_defaults(path: str) -> None:
    crd = leaves(CRD_DEFAULTS)
    assert leaves(VALUES)[path] == crd.get(path, []), f"helm/web4ai/values.yaml config.{path}"
