"""Request bodies read into their models (``web4ai.core.schemas``): 413 over the size
limit, 400 INVALID_JSON when not JSON, 400 INVALID_REQUEST (one entry per wrong field,
raised as ``ValidationFailed`` for the error middleware) when it does not fit."""

from __future__ import annotations

from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel

from web4ai.api.errors import MAX_BODY, ApiError, read_body
from web4ai.core.schemas import errors

M = TypeVar("M", bound=BaseModel)


async def read_model(request: web.Request, model: type[M]) -> M:
    raw = await read_body(request, int(request.get(MAX_BODY, 1024 * 1024)))
    try:
        return errors.parse(model, raw)
    except errors.Malformed as exc:
        raise ApiError(400, f"Malformed JSON: {exc}", "INVALID_JSON") from None
