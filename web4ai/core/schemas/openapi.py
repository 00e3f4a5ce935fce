"""Models' JSON schemas as OpenAPI 3.0 takes them (references inlined, no titles). Pure."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

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
