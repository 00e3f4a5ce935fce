"""The field types of the API's bodies: bounded strings and numbers, ids, URLs,
timestamps, the names of the enums. Bounds come from ``web4ai.core.limits``. Pure."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema

from web4ai.core import limits as lim
from web4ai.core.egress import url_form_problem
from web4ai.core.ids import IdKind, InvalidId, validate_id
from web4ai.core.validation import bounded_result, json_size, text

NO_CONTROL = r"^[^\x00-\x1f]*$"
ID_PATTERN = "^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$"


def integral(v: Any) -> Any:
    """5.0 is the integer 5 (JSON has one number type); anything else is left to the
    strict integer check."""
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def plain_str(max_len: int, min_len: int = 0) -> Any:
    """A string without control characters."""
    return Field(min_length=min_len, max_length=max_len, pattern=NO_CONTROL)


# strings and lists of them
Name = Annotated[str, plain_str(lim.NAME_MAX)]
Name1 = Annotated[str, plain_str(lim.NAME_MAX, 1)]
LongName = Annotated[str, plain_str(lim.LONG_NAME_MAX)]
LongName1 = Annotated[str, plain_str(lim.LONG_NAME_MAX, 1)]
Names = Annotated[list[Name1], Field(max_length=lim.CAPABILITIES_MAX)]
LongNames = Annotated[list[LongName1], Field(max_length=lim.CAPABILITIES_MAX)]
NodeNames = Annotated[
    list[Annotated[str, plain_str(lim.ID_MAX, 1)]], Field(max_length=lim.NODE_LIST_MAX)
]
# numbers
Port = Annotated[int, Field(ge=1, le=65535), BeforeValidator(integral)]
Count = Annotated[int, Field(ge=0, le=100000), BeforeValidator(integral)]
Capacity = Annotated[int, Field(ge=1, le=100000), BeforeValidator(integral)]
Running = Annotated[int, Field(ge=0, le=1_000_000), BeforeValidator(integral)]
Priority = Annotated[
    int, Field(ge=lim.PRIORITY_MIN, le=lim.PRIORITY_MAX), BeforeValidator(integral)
]
Timeout = Annotated[int, Field(ge=lim.TIMEOUT_MIN, le=lim.TIMEOUT_MAX), BeforeValidator(integral)]
Retries = Annotated[int, Field(ge=lim.RETRIES_MIN, le=lim.RETRIES_MAX), BeforeValidator(integral)]
Percent = Annotated[float, Field(ge=0, le=100)]
NonNegative = Annotated[float, Field(ge=0)]
DrainDeadline = Annotated[float, Field(ge=0, le=604800)]


def fits(max_bytes: int) -> Callable[[Any], Any]:
    def check(v: Any) -> Any:
        size = json_size(v)
        if size > max_bytes:
            raise ValueError(f"must be at most {max_bytes} bytes as JSON (is {size})")
        return v

    return check


Metadata = Annotated[dict[str, Any], AfterValidator(fits(lim.METADATA_MAX_BYTES))]
InputData = Annotated[dict[str, Any], AfterValidator(fits(lim.INPUT_DATA_MAX_BYTES))]


def _ident(kind: IdKind) -> Callable[[Any], str]:
    def check(v: Any) -> str:
        try:
            return validate_id(kind, v)
        except InvalidId as exc:
            raise ValueError(exc.reason) from None

    return check


ID_SCHEMA = {"type": "string", "minLength": 1, "maxLength": lim.ID_MAX, "pattern": ID_PATTERN}
TaskId = Annotated[str, AfterValidator(_ident(IdKind.TASK)), WithJsonSchema(ID_SCHEMA)]
NodeId = Annotated[str, AfterValidator(_ident(IdKind.NODE)), WithJsonSchema(ID_SCHEMA)]


def _callback_url(v: str) -> str:
    problem = url_form_problem(v)
    if problem:
        raise ValueError(problem)
    return v


CallbackUrl = Annotated[
    str,
    AfterValidator(_callback_url),
    WithJsonSchema({"type": "string", "format": "uri", "maxLength": lim.CALLBACK_URL_MAX}),
]


def _timestamp(v: Any) -> Any:
    if isinstance(v, bool) or not isinstance(v, str | int | float):
        raise ValueError("must be an ISO 8601 string or a Unix time")
    return v


Timestamp = Annotated[
    Any,
    AfterValidator(_timestamp),
    WithJsonSchema({"oneOf": [{"type": "string"}, {"type": "number"}]}),
]
ErrorText = Annotated[
    str,
    AfterValidator(text(lim.ERROR_MESSAGE_MAX)),
    WithJsonSchema({"type": "string", "description": f"cut to {lim.ERROR_MESSAGE_MAX} characters"}),
]
Result = Annotated[
    Any,
    AfterValidator(bounded_result),
    WithJsonSchema({"description": "any JSON; over the size limit it is kept as cut JSON text"}),
]
AlgorithmName = Literal[
    "round_robin",
    "weighted_round_robin",
    "least_connections",
    "resource_aware",
    "latency_optimized",
]
NodeStatusName = Literal["active", "degraded", "maintenance", "offline", "error"]
PhaseName = Literal["queued", "retrying", "assigned", "running", "completed", "failed", "cancelled"]
