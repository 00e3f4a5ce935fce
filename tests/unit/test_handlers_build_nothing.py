"""API handlers never build object bodies or patches: those come from
``web4ai.core.objects``, ``web4ai.core.patches`` and ``web4ai.core.heartbeats``.
import-linter forbids the handlers the body types at run time (pyproject.toml); this
reads their source for what an import cannot show: a dict display shaped like a body
(``apiVersion``, ``kind``, ``metadata``, ``spec``) or a status patch
(``{"status": {...}}``)."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BODY_KEYS = {"apiVersion", "kind", "metadata", "spec"}


def handler_modules() -> list[str]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    [contract] = [
        c
        for c in config["tool"]["importlinter"]["contracts"]
        if c["name"].startswith("api handlers never build")
    ]
    return list(contract["source_modules"])


def shaped_like_a_body(node: ast.Dict) -> str | None:
    keys = {str(k.value) for k in node.keys if isinstance(k, ast.Constant)}
    if keys & BODY_KEYS:
        return ", ".join(sorted(keys & BODY_KEYS))
    for k, v in zip(node.keys, node.values, strict=True):
        if isinstance(k, ast.Constant) and k.value == "status" and isinstance(v, ast.Dict):
            return "status: {...}"
    return None


def test_every_module_with_routes_is_a_handler_module() -> None:
    with_routes = {
        "web4ai.api." + p.stem
        for p in (REPO / "web4ai/api").glob("*.py")
        if "RouteTableDef(" in p.read_text()
    }
    assert with_routes <= set(handler_modules())


@pytest.mark.parametrize("module", handler_modules())
def test_a_handler_module_has_no_body_or_patch_display(module: str) -> None:
    path = REPO / (module.replace(".", "/") + ".py")
    found = [
        f"{path.name}:{node.lineno} ({shape})"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Dict) and (shape := shaped_like_a_body(node))
    ]
    assert found == []


def test_the_check_sees_a_body_and_a_patch() -> None:
    body = ast.parse('{"apiVersion": "v1", "kind": "Lease"}', mode="eval").body
    patch = ast.parse('{"status": {"draining": None}}', mode="eval").body
    answer = ast.parse('{"success": True, "status": "healthy"}', mode="eval").body
    assert isinstance(body, ast.Dict) and shaped_like_a_body(body) == "apiVersion, kind"
    assert isinstance(patch, ast.Dict) and shaped_like_a_body(patch) == "status: {...}"
    assert isinstance(answer, ast.Dict) and shaped_like_a_body(answer) is None
