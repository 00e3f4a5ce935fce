"""web4ai/core/validation.py as it was before the typed models (commit 5afaf73), verbatim but
for this docstring: the baseline that ``bench/models.py`` measures the models against."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from web4ai.core import limits as lim
from web4ai.core.callbacks import url_problem
from web4ai.core.egress import network_problem
from web4ai.core.ids import IdKind, InvalidId, validate_id
from web4ai.core.limits import truncate
from web4ai.core.model import NodeStatus

Checker = Callable[[Any], Any]  # returns the clean value or raises Invalid


class Invalid(ValueError):
    pass


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class ValidationFailed(ValueError):
    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))


# -- checkers ----------------------------------------------------------------


def schema_of(check: Checker) -> dict[str, Any]:
    """The JSON schema a checker enforces (for the OpenAPI document)."""
    return dict(getattr(check, "schema", {}))


def with_schema(schema: dict[str, Any]) -> Callable[[Checker], Checker]:
    def attach(check: Checker) -> Checker:
        check.schema = schema  # type: ignore[attr-defined]
        return check

    return attach


def string(max_len: int = 253, min_len: int = 0) -> Checker:
    @with_schema({"type": "string", "minLength": min_len, "maxLength": max_len})
    def check(v: Any) -> str:
        if not isinstance(v, str):
            raise Invalid("must be a string")
        if not min_len <= len(v) <= max_len:
            raise Invalid(f"must be {min_len} to {max_len} characters")
        if any(ord(c) < 32 for c in v):
            raise Invalid("must not contain control characters")
        return v

    return check


def clean_text(v: str) -> str:
    """``v`` as storable Unicode: lone surrogates (which JSON allows and UTF-8 does not)
    become U+FFFD; everything else, newlines and tabs included, is kept."""
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:
        return v.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return v


def text(max_len: int) -> Checker:
    """Free text (error messages, text results): any Unicode, newlines and tabs included;
    longer text is cut to ``max_len`` with a marker, never refused."""

    @with_schema({"type": "string", "description": f"cut to {max_len} characters with a marker"})
    def check(v: Any) -> str:
        if not isinstance(v, str):
            raise Invalid("must be a string")
        return truncate(clean_text(v), max_len)

    return check


@with_schema({"description": "any JSON; over the size limit it is kept as cut JSON text"})
def bounded_result(v: Any) -> Any:
    """A task's result: any JSON value. One larger than RESULT_MAX_BYTES as JSON is kept as
    its JSON text cut to fit, with a marker, never refused."""
    if isinstance(v, str):
        v = clean_text(v)
    try:
        size = json_size(v)
    except (TypeError, ValueError, UnicodeEncodeError):
        v = clean_text(json.dumps(v, ensure_ascii=False, default=str))
        size = json_size(v)
    if size <= lim.RESULT_MAX_BYTES:
        return v
    as_text = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
    # characters are up to 4 bytes (6 when escaped); cut by characters until it fits
    keep = lim.RESULT_MAX_BYTES // 2
    cut = truncate(as_text, keep)
    while json_size(cut) > lim.RESULT_MAX_BYTES:
        keep //= 2
        cut = truncate(as_text, keep)
    return cut


def integer(lo: int, hi: int) -> Checker:
    @with_schema({"type": "integer", "minimum": lo, "maximum": hi})
    def check(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int):
            if isinstance(v, float) and v.is_integer() and not isinstance(v, bool):
                v = int(v)
            else:
                raise Invalid(f"must be an integer from {lo} to {hi}")
        if not lo <= v <= hi:
            raise Invalid(f"must be an integer from {lo} to {hi}")
        return int(v)

    return check


def number(lo: float, hi: float = math.inf) -> Checker:
    bounds: dict[str, Any] = {"type": "number", "minimum": lo}
    if math.isfinite(hi):
        bounds["maximum"] = hi

    @with_schema(bounds)
    def check(v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise Invalid(f"must be a number from {lo:g} to {hi:g}")
        if not lo <= v <= hi:
            raise Invalid(f"must be a number from {lo:g} to {hi:g}")
        return v

    return check


@with_schema({"type": "boolean"})
def boolean(v: Any) -> bool:
    if not isinstance(v, bool):
        raise Invalid("must be true or false")
    return v


@with_schema({"type": "object", "additionalProperties": True})
def obj(v: Any) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise Invalid("must be an object")
    return v


def json_size(v: Any) -> int:
    """Bytes of ``v`` as compact JSON (how it is stored)."""
    return len(json.dumps(v, separators=(",", ":"), ensure_ascii=False).encode())


def _fits(v: Any, max_bytes: int) -> None:
    size = json_size(v)
    if size > max_bytes:
        raise Invalid(f"must be at most {max_bytes} bytes as JSON (is {size})")


def sized_obj(max_bytes: int) -> Checker:
    @with_schema({"type": "object", "additionalProperties": True})
    def check(v: Any) -> dict[str, Any]:
        if not isinstance(v, dict):
            raise Invalid("must be an object")
        _fits(v, max_bytes)
        return v

    return check


def string_list(max_items: int = 256, max_len: int = 253) -> Checker:
    item = string(max_len, 1)

    @with_schema({"type": "array", "maxItems": max_items, "items": schema_of(item)})
    def check(v: Any) -> list[str]:
        if not isinstance(v, list):
            raise Invalid("must be a list of strings")
        if len(v) > max_items:
            raise Invalid(f"must have at most {max_items} items")
        try:
            return [item(x) for x in v]
        except Invalid as exc:
            raise Invalid(f"every item {exc}") from None

    return check


def cidr_list(max_items: int = 256) -> Checker:
    item = string(64, 1)

    @with_schema({"type": "array", "maxItems": max_items, "items": schema_of(item)})
    def check(v: Any) -> list[str]:
        values: list[str] = string_list(max_items, 64)(v)
        for text in values:
            problem = network_problem(text)
            if problem:
                raise Invalid(f"every item must be a CIDR network ({problem})")
        return values

    return check


def one_of(*choices: str) -> Checker:
    @with_schema({"type": "string", "enum": list(choices)})
    def check(v: Any) -> str:
        if v not in choices:
            raise Invalid("must be one of " + ", ".join(choices))
        return str(v)

    return check


def ident(kind: IdKind) -> Checker:
    @with_schema(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": 63,
            "pattern": "^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$",
        }
    )
    def check(v: Any) -> str:
        try:
            return validate_id(kind, v)
        except InvalidId as exc:
            raise Invalid(exc.reason) from None

    return check


@with_schema({"type": "string", "format": "uri", "maxLength": lim.CALLBACK_URL_MAX})
def callback_url(v: Any) -> str:
    problem = url_problem(v)
    if problem:
        raise Invalid(problem)
    return str(v)


@with_schema({"oneOf": [{"type": "string"}, {"type": "number"}]})
def timestamp(v: Any) -> Any:
    if isinstance(v, bool) or not isinstance(v, str | int | float):
        raise Invalid("must be an ISO 8601 string or a Unix time")
    return v


@dataclass(frozen=True)
class Field:
    check: Checker
    required: bool = False


Schema = dict[str, Field]


def validate(body: Any, schema: Schema, prefix: str = "") -> dict[str, Any]:
    """The known fields of ``body``, checked; unknown fields are ignored."""
    if not isinstance(body, dict):
        raise ValidationFailed([FieldError(prefix.rstrip(".") or "body", "must be an object")])
    out: dict[str, Any] = {}
    errors: list[FieldError] = []
    for name, field in schema.items():
        if name not in body or body[name] is None:
            if field.required:
                errors.append(FieldError(prefix + name, "is required"))
            continue
        try:
            out[name] = field.check(body[name])
        except Invalid as exc:
            errors.append(FieldError(prefix + name, str(exc)))
        except ValidationFailed as exc:
            errors.extend(exc.errors)
    if errors:
        raise ValidationFailed(errors)
    return out


def object_schema(schema: Schema) -> dict[str, Any]:
    """A request schema as a JSON schema object."""
    out: dict[str, Any] = {
        "type": "object",
        "properties": {name: schema_of(f.check) for name, f in schema.items()},
    }
    required = [name for name, f in schema.items() if f.required]
    if required:
        out["required"] = required
    return out


def nested(schema: Schema, name: str) -> Checker:
    @with_schema(object_schema(schema))
    def check(v: Any) -> dict[str, Any]:
        return validate(v, schema, prefix=f"{name}.")

    return check


NODE_STATUSES = tuple(s.value for s in NodeStatus)

AGENT = {
    "agent_id": Field(string(lim.LONG_NAME_MAX, 1), required=True),
    "agent_type": Field(string(lim.NAME_MAX)),
    "capabilities": Field(string_list(lim.CAPABILITIES_MAX, lim.LONG_NAME_MAX)),
    "specialized_models": Field(string_list(lim.CAPABILITIES_MAX, lim.LONG_NAME_MAX)),
}


@with_schema({"type": "array", "maxItems": lim.AGENTS_MAX, "items": object_schema(AGENT)})
def agents(v: Any) -> list[dict[str, Any]]:
    if not isinstance(v, list) or len(v) > lim.AGENTS_MAX:
        raise Invalid(f"must be a list of at most {lim.AGENTS_MAX} agents")
    out = [validate(a, AGENT, prefix=f"agents[{i}].") for i, a in enumerate(v)]
    _fits(out, lim.AGENTS_MAX_BYTES)
    return out


REGISTRATION: Schema = {
    "host": Field(string(lim.LONG_NAME_MAX, 1), required=True),
    "port": Field(integer(1, 65535)),
    "node_type": Field(string(lim.NAME_MAX)),
    "capabilities": Field(string_list(lim.CAPABILITIES_MAX, lim.NAME_MAX)),
    "agents_count": Field(integer(0, 100000)),
    "max_concurrent_tasks": Field(integer(1, 100000)),
    "version": Field(string(lim.NAME_MAX)),
    "location": Field(string(lim.LONG_NAME_MAX)),
    "metadata": Field(sized_obj(lim.METADATA_MAX_BYTES)),
    "agents": Field(agents),
    "boot_id": Field(string(lim.NAME_MAX, 1)),  # one per process start of the node
}

HEARTBEAT: Schema = {
    "status": Field(one_of(*NODE_STATUSES)),
    "cpu_usage": Field(number(0, 100)),
    "memory_usage": Field(number(0, 100)),
    "gpu_usage": Field(number(0, 100)),
    "load_score": Field(number(0)),
    "tasks_running": Field(integer(0, 1_000_000)),
    "network_latency": Field(number(0)),
    "memory_total_mb": Field(number(0)),
    "uptime": Field(number(0)),
    "agents_status": Field(sized_obj(lim.METADATA_MAX_BYTES)),
    "timestamp": Field(timestamp),
}

STATUS_UPDATE: Schema = {"status": Field(one_of(*NODE_STATUSES), required=True)}

DRAIN: Schema = {"deadline": Field(number(0, 604800))}  # seconds from now

REQUIREMENTS: Schema = {
    "capabilities": Field(string_list(lim.CAPABILITIES_MAX, lim.NAME_MAX)),
    "min_cpu": Field(number(0, 100)),
    "min_memory": Field(number(0)),
    "preferred_nodes": Field(string_list(lim.NODE_LIST_MAX, lim.ID_MAX)),
    "exclude_nodes": Field(string_list(lim.NODE_LIST_MAX, lim.ID_MAX)),
}

TASK: Schema = {
    "task_id": Field(ident(IdKind.TASK)),
    "task_type": Field(string(lim.NAME_MAX, 1), required=True),
    "priority": Field(integer(lim.PRIORITY_MIN, lim.PRIORITY_MAX)),
    "requirements": Field(nested(REQUIREMENTS, "requirements")),
    "input_data": Field(sized_obj(lim.INPUT_DATA_MAX_BYTES)),
    "timeout": Field(integer(lim.TIMEOUT_MIN, lim.TIMEOUT_MAX)),
    "max_retries": Field(integer(lim.RETRIES_MIN, lim.RETRIES_MAX)),
    "deadline": Field(number(0)),
    "callback_url": Field(callback_url),
    "metadata": Field(sized_obj(lim.METADATA_MAX_BYTES)),
}

TASK_START: Schema = {
    "node_id": Field(ident(IdKind.NODE), required=True),
    "agent_id": Field(string(253)),
}

TASK_RESULT: Schema = {
    "node_id": Field(ident(IdKind.NODE), required=True),
    "status": Field(one_of("completed", "failed"), required=True),
    "result": Field(bounded_result),
    "error_message": Field(text(lim.ERROR_MESSAGE_MAX)),
    "execution_time": Field(number(0)),
    "performance_metrics": Field(sized_obj(lim.METADATA_MAX_BYTES)),
}
