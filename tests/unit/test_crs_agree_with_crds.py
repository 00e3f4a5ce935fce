"""The TypedDicts of web4ai/core/crs.py mirror crds/*.yaml: every field they name is in
the CRD with a compatible type, every property of the CRD is in them, and what the CRD
requires they require."""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic.alias_generators import to_camel

from web4ai.core import crs
from web4ai.core.schemas import fields, views

CRDS = Path(__file__).resolve().parents[2] / "crds"

SCALARS: dict[Any, set[str]] = {
    str: {"string"},
    int: {"integer"},
    float: {"number", "integer"},
    bool: {"boolean"},
}


def crd_schema(name: str) -> dict[str, Any]:
    doc = yaml.safe_load((CRDS / name).read_text())
    return dict(doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"])


def problems(hint: Any, schema: dict[str, Any], path: str) -> list[str]:
    """Where ``hint`` and ``schema`` disagree, as readable lines."""
    origin = typing.get_origin(hint)
    if hint is Any:  # preserve-unknown-fields, or anything
        return []
    if isinstance(hint, type) and typing.is_typeddict(hint):
        return typeddict_problems(hint, schema, path)
    if hint in SCALARS:
        kind = schema.get("type")
        return [] if kind in SCALARS[hint] else [f"{path}: {hint.__name__} vs {kind}"]
    if origin is list:
        if schema.get("type") != "array":
            return [f"{path}: list vs {schema.get('type')}"]
        return problems(typing.get_args(hint)[0], schema.get("items", {}), path + "[]")
    if origin is dict:
        if schema.get("type") != "object":
            return [f"{path}: dict vs {schema.get('type')}"]
        if schema.get("properties"):
            return [f"{path}: a dict where the CRD has properties"]
        return []
    if origin in (typing.Union, types.UnionType):
        return [f"{path}: unions are not CRD types"]
    return [f"{path}: unknown hint {hint!r}"]


def typeddict_problems(td: Any, schema: dict[str, Any], path: str) -> list[str]:
    hints = typing.get_type_hints(td)
    props = schema.get("properties", {})
    out = []
    if schema.get("type") not in ("object", None):
        out.append(f"{path}: TypedDict vs {schema.get('type')}")
    for name, hint in hints.items():
        if name not in props:
            out.append(f"{path}.{name}: not in the CRD")
            continue
        out += problems(hint, props[name], f"{path}.{name}")
    for name in props:
        if name not in hints:
            out.append(f"{path}.{name}: in the CRD, missing from {td.__name__}")
    for name in schema.get("required", []):
        if name not in td.__required_keys__:
            out.append(f"{path}.{name}: required by the CRD, optional in {td.__name__}")
    return out


@pytest.mark.parametrize("crd", sorted(crs.KINDS))
def test_spec_and_status_mirror_the_crd(crd: str) -> None:
    body = crs.KINDS[crd]
    hints = typing.get_type_hints(body)
    schema = crd_schema(crd)
    assert set(schema["properties"]) - {"apiVersion", "kind", "metadata"} <= set(hints)
    found = []
    for part in ("spec", "status"):
        found += problems(hints[part], schema["properties"][part], part)
    assert not found, "\n".join(found)


def test_the_walk_finds_a_mismatch() -> None:
    class Wrong(typing.TypedDict, total=False):
        port: str
        extra: int

    schema = {"type": "object", "properties": {"port": {"type": "integer"}, "gone": {}}}
    assert problems(Wrong, schema, "spec") == [
        "spec.port: str vs integer",
        "spec.extra: not in the CRD",
        "spec.gone: in the CRD, missing from Wrong",
    ]


VIEWS = [
    (views.TaskSpecView, "web4aitasks.yaml", "spec"),
    (views.RequirementsView, "web4aitasks.yaml", "spec.requirements"),
    (views.TaskStatusView, "web4aitasks.yaml", "status"),
    (views.AttemptView, "web4aitasks.yaml", "status.attempts[]"),
    (views.NodeSpecView, "web4ainodes.yaml", "spec"),
    (views.AgentView, "web4ainodes.yaml", "spec.agents[]"),
    (views.NodeStatusView, "web4ainodes.yaml", "status"),
    (views.DrainingView, "web4ainodes.yaml", "status.draining"),
]


@pytest.mark.parametrize(
    ("view", "crd", "path"), VIEWS, ids=[f"{c.split('.')[0]}.{p}" for _, c, p in VIEWS]
)
def test_the_api_views_read_fields_the_crds_have(view: Any, crd: str, path: str) -> None:
    """What task_public and node_public read (snake_case names, camelCase aliases)
    exists in the CRD."""
    schema = crd_schema(crd)
    for part in path.split("."):
        items = part.endswith("[]")
        schema = schema["properties"][part.removesuffix("[]")]
        schema = schema["items"] if items else schema
    missing = [f for f in view.__annotations__ if to_camel(f) not in schema["properties"]]
    assert not missing, missing


def test_the_models_literals_are_the_enums() -> None:
    from web4ai.core.model import Algorithm, NodeStatus, TaskPhase

    assert set(typing.get_args(fields.NodeStatusName)) == {s.value for s in NodeStatus}
    assert set(typing.get_args(fields.PhaseName)) == {p.value for p in TaskPhase}
    assert set(typing.get_args(fields.AlgorithmName)) == {a.value for a in Algorithm}
