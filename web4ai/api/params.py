"""Path and query parameters: ids from the URL and bounded query values, validated,
or a 400 that says why."""

from __future__ import annotations

from aiohttp import web

from web4ai.api.errors import ApiError
from web4ai.core.ids import IdKind, InvalidId, validate_id


def id_param(request: web.Request, kind: IdKind) -> str:
    """The ``{node_id}``/``{task_id}`` of the URL; 400 INVALID_NODE_ID/INVALID_TASK_ID."""
    field = f"{kind.value}_id"
    try:
        return validate_id(kind, request.match_info[field])
    except InvalidId as exc:
        err = ApiError(400, str(exc), f"INVALID_{kind.value.upper()}_ID")
        err.details[field] = exc.value
        raise err from None


def int_query(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = lo - 1
    if not lo <= value <= hi:
        raise ApiError(
            400, f"{name} must be an integer from {lo} to {hi}", "INVALID_REQUEST", parameter=name
        )
    return value


def choice_query(request: web.Request, name: str, choices: tuple[str, ...]) -> str | None:
    value = request.query.get(name)
    if value is not None and value not in choices:
        raise ApiError(
            400, f"{name} must be one of " + ", ".join(choices), "INVALID_REQUEST", parameter=name
        )
    return value
