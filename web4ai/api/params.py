"""Path parameters: ids from the URL, validated, or a 400 that says why."""

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
