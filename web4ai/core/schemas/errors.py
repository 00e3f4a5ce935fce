"""A request body parsed into its model, and a validation error said as the documented
400 ``INVALID_REQUEST``: one ``{field, message}`` per wrong field. Pure."""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from web4ai.core.schemas import storable
from web4ai.core.schemas.openapi import openapi_schema
from web4ai.core.schemas.storable import field_name
from web4ai.core.validation import FieldError, ValidationFailed

M = TypeVar("M", bound=BaseModel)


class ErrorDetail(BaseModel):
    code: str
    errors: list[dict[str, str]] | None = None


class Error(BaseModel):
    """The documented error envelope."""

    success: Literal[False]
    error: str
    timestamp: str
    details: ErrorDetail


def parse(model: type[M], raw: bytes) -> M:
    """``raw`` (a request body) as ``model``. An empty body is ``{}``. Raises
    ``Malformed`` for what is not JSON, ``ValidationFailed`` (one FieldError per wrong
    field, with messages as the API has always given them) for the rest, and for what
    could not be stored (``web4ai.core.schemas.storable``)."""
    try:
        parsed = model.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        details = exc.errors(include_url=False)
    else:
        storable.check(parsed)
        return parsed
    if details and details[0]["type"] == "json_invalid":
        # what the fast parser refuses and Python's json reads (a lone surrogate in a
        # traceback: JSON allows it; nesting past the fast parser's own bound) is read,
        # and a lone surrogate kept as U+FFFD where it is stored
        data = storable.load(raw)
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            details = exc.errors(include_url=False)
    schema = openapi_schema(model)
    raise ValidationFailed([field_error(d, schema) for d in details]) from None


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
