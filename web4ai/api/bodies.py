"""Request bodies, through the parse boundary (``web4ai.core.schemas.storable``) and into
their models (``web4ai.core.schemas``): 413 over the size limit, 400 INVALID_JSON when
not JSON, 400 INVALID_REQUEST (one entry per wrong field, raised as ``ValidationFailed``
for the error middleware) when it does not fit or could not be stored."""

from __future__ import annotations

from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel

from web4ai.api.errors import MAX_BODY, ApiError, read_body
from web4ai.core.schemas import errors, storable

M = TypeVar("M", bound=BaseModel)


def malformed(exc: storable.Malformed) -> ApiError:
    return ApiError(400, f"Malformed JSON: {exc}", "INVALID_JSON")


async def raw_body(request: web.Request) -> bytes:
    return await read_body(request, int(request.get(MAX_BODY, 1024 * 1024)))


async def read_model(request: web.Request, model: type[M]) -> M:
    try:
        return errors.parse(model, await raw_body(request))
    except storable.Malformed as exc:
        raise malformed(exc) from None


async def read_json(request: web.Request) -> Any:
    """The request's JSON body as plain data (``{}`` when empty)."""
    try:
        return storable.load(await raw_body(request))
    except storable.Malformed as exc:
        raise malformed(exc) from None
