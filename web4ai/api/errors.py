"""The documented error envelope for every 4xx and 5xx, and reading a body within its
size limit (``read_body``; parsing it is ``web4ai.api.bodies``)."""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

import aiohttp
from aiohttp import web

from web4ai.core.validation import ValidationFailed

log = logging.getLogger(__name__)

HTTP_CODES = {
    400: "BAD_REQUEST",
    401: "AUTHENTICATION_FAILED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR",
    503: "SERVICE_UNAVAILABLE",
}


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        **details: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or HTTP_CODES.get(status, "ERROR")
        self.headers = headers or {}
        self.details = details


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def envelope(err: ApiError) -> dict[str, Any]:
    """The documented error body."""
    return {
        "success": False,
        "error": err.message,
        "timestamp": now_iso(),
        "details": {"code": err.code, **err.details},
    }


def error_response(err: ApiError) -> web.Response:
    return web.json_response(envelope(err), status=err.status, headers=err.headers)


def invalid(exc: ValidationFailed) -> ApiError:
    return ApiError(
        400, f"Invalid request: {exc}", "INVALID_REQUEST", errors=[e.as_dict() for e in exc.errors]
    )


MAX_BODY = "web4ai.max_body"  # request key: the configured body limit in bytes


def too_large(limit: int) -> ApiError:
    return ApiError(
        413, f"Request body larger than {limit} bytes", "PAYLOAD_TOO_LARGE", max_bytes=limit
    )


async def read_body(request: web.Request, limit: int) -> bytes:
    """The request body, read as it streams in (chunked bodies too): 413 as soon as
    it crosses ``limit``, never buffering more than ``limit`` plus one chunk."""
    if (request.content_length or 0) > limit:
        raise too_large(limit)
    content = request.content
    if content.is_eof():  # all of it arrived already (a small body): taken at once
        body = content.read_nowait()
        if len(body) > limit:
            raise too_large(limit)
        return body
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def error_answer(request: web.Request, exc: Exception) -> web.StreamResponse:
    """What a request that raised ``exc`` answers: the documented envelope with its
    code (a 503 when the API server is unavailable, a 500 for a bug, logged); an
    HTTPException below 400 (a redirect) is raised on."""
    if isinstance(exc, ApiError):
        response = error_response(exc)
        if exc.status == 413:
            response.force_close()  # do not keep reading an oversized body
        return response
    if isinstance(exc, ValidationFailed):
        return error_response(invalid(exc))
    if isinstance(exc, web.HTTPException):
        if exc.status < 400:
            raise exc
        if exc.status == 413:
            return error_response(ApiError(413, "Request body too large", "PAYLOAD_TOO_LARGE"))
        message = {
            404: f"No route for {request.path}",
            405: f"Method {request.method} not allowed on {request.path}",
        }.get(exc.status, exc.reason)
        return error_response(
            ApiError(
                exc.status, message, headers={k: v for k, v in exc.headers.items() if k == "Allow"}
            )
        )
    if unavailable(exc):  # the API server is restarting or unreachable: retry later
        log.warning("API server unavailable on %s %s: %s", request.method, request.path, exc)
        return error_response(
            ApiError(
                503,
                "The cluster's API server is unavailable; retry shortly",
                "SERVICE_UNAVAILABLE",
                headers={"Retry-After": "1"},
            )
        )
    log.error("unhandled error on %s %s", request.method, request.path, exc_info=exc)
    return error_response(ApiError(500, "Internal server error"))


def unavailable(exc: BaseException) -> bool:
    """An outage of the API server behind us (connection refused, 5xx, timeout)."""
    status = getattr(exc, "status", None)
    if type(exc).__name__ == "ApiException" and isinstance(status, int):
        return status >= 500 or status == 429
    return isinstance(exc, aiohttp.ClientConnectionError | TimeoutError | ConnectionError)


def json_bytes(data: Any) -> bytes:
    return json.dumps(data).encode()
