"""The aiohttp application: ``create_app`` wires routes, middlewares and background work."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import hdrs, web

from web4ai.api import (
    control,
    jointokens,
    keys,
    monitoring,
    nodes,
    progress,
    refreshing,
    renewing,
    tasks,
    ui,
    websocket,
    whoami,
)
from web4ai.api.access import authenticate
from web4ai.api.auth import ANONYMOUS, PRINCIPAL_KEY, authorize
from web4ai.api.context import CONTEXT, ApiContext
from web4ai.api.errors import MAX_BODY, ApiError, error_answer, too_large
from web4ai.api.events import on_node, on_orchestrator, on_task
from web4ai.api.lifetime import running
from web4ai.api.livefeed import live_feed
from web4ai.api.openapi import openapi_routes
from web4ai.api.rendering import COMPRESS_ABOVE
from web4ai.api.routing import spec_of

log = logging.getLogger(__name__)

METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
APP_MAX_BODY = 64 * 1024 * 1024  # the hard cap; the configured limit is checked per request
# The longest request line parsed (aiohttp: 8,190 bytes, over which it answers a
# plain-text 400 of its own): a poll's held list at its limit, 6,000 characters,
# percent-encoded is up to 72,000 bytes, and a longer one gets the error envelope.
MAX_REQUEST_LINE = 128 * 1024


def compress(request: web.Request, response: web.StreamResponse) -> None:
    """gzip large JSON answers for clients that accept it (the dashboard's /nodes at
    1,000 nodes shrinks about tenfold); the dashboard's files come pre-compressed."""
    if (
        isinstance(response, web.Response)
        and response.content_type == "application/json"
        and response.body is not None
        and len(response.body) > COMPRESS_ABOVE  # type: ignore[arg-type]
        and hdrs.CONTENT_ENCODING not in response.headers  # pre-compressed (rendering)
        and "gzip" in request.headers.get("Accept-Encoding", "")
    ):
        response.enable_compression(web.ContentCoding.gzip)


PACED_ROUTES = frozenset({"heartbeat", "register"})  # budgets per node (core/ratelimit.py)


@web.middleware
async def request_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """Every request, in one layer (each of aiohttp's layers is a coroutine and a
    wrapper more per request; a heartbeat is mostly such overhead):

    1. admitted (``admit``: body limit, key, role, rate limit) and handled;
    2. whatever either raised answered in the error envelope (``errors.error_answer``);
    3. large JSON compressed (``compress``), counted in /status's request stats, and
       timed in ``web4ai_http_request_duration_seconds{route,method,code}`` by route
       *name* (bounded), heartbeats counted; WebSocket sessions are not requests."""
    ctx = request.app[CONTEXT]
    started = time.perf_counter()
    code = 500
    try:
        try:
            await admit(ctx, request)
            response: web.StreamResponse = await handler(request)
        except Exception as exc:
            response = error_answer(request, exc)
        code = response.status
        stats = ctx.stats
        stats.requests_total += 1
        if code < 400:
            stats.requests_success += 1
        else:
            stats.requests_error += 1
        compress(request, response)
        return response
    except web.HTTPException as exc:  # a redirect
        code = exc.status
        raise
    finally:
        route = request.match_info.route.name or "unmatched"
        if route != "ws":
            metrics = ctx.metrics
            method = request.method if request.method in METHODS else "other"
            metrics.request_timer(route, method, code).observe(time.perf_counter() - started)
            if route == "heartbeat" and code < 300:
                metrics.heartbeats.inc()


async def admit(ctx: ApiContext, request: web.Request) -> None:
    """Body limit (declared length here, streamed bodies in api.errors.read_body), API key,
    role and rate limit, in that order; ``ApiError`` when one refuses."""
    settings = ctx.state.settings()
    limit = settings.max_body_bytes
    request[MAX_BODY] = limit
    if (request.content_length or 0) > limit:
        raise too_large(limit)
    route = request.match_info.route.name or ""
    declared = spec_of(request.match_info.handler)
    if declared.public or request.match_info.http_exception is not None:
        return
    principal = await authenticate(
        ctx,
        request.headers.get("Authorization"),
        request.remote,
        request.headers.get("Sec-WebSocket-Protocol", "") if route == "ws" else None,
    )
    if principal is not ANONYMOUS:
        denied = authorize(principal, request.method, declared, dict(request.match_info))
        if denied:
            raise ApiError(403, denied, "FORBIDDEN")
    request[PRINCIPAL_KEY] = principal
    if route in PACED_ROUTES:  # a budget per node, at the pace it is told
        retry = ctx.paced.check(
            request.match_info["node_id"], ctx.state.min_heartbeat_interval(), ctx.clock()
        )
    else:
        ctx.limiter.per_minute = settings.max_requests_per_minute
        client = principal.name if principal is not ANONYMOUS else (request.remote or "unknown")
        retry = ctx.limiter.check(client, ctx.clock())
    if retry > 0:
        raise ApiError(
            429,
            "Too many requests",
            "RATE_LIMITED",
            headers={"Retry-After": str(max(1, round(retry + 0.5)))},
            retry_after=round(retry, 3),
        )


async def informers(app: web.Application) -> AsyncIterator[None]:
    """The informers, and the cache's transitions as WebSocket messages and long-poll
    wake-ups (``web4ai.api.events``), for the app's lifetime (aiohttp cleanup_ctx)."""
    ctx = app[CONTEXT]
    ctx.state.on_task_change.append(lambda new, old: on_task(ctx, new, old))
    ctx.state.on_node_change.append(lambda new, old: on_node(ctx, new, old))
    for node in ctx.state.nodes_by_name.values():  # any held before the hooks
        ctx.node_totals.changed(node)
    ctx.state.on_node_change.append(lambda new, old: ctx.node_totals.changed(new))
    ctx.state.on_node_delete.append(ctx.node_totals.deleted)
    ctx.state.on_orchestrator_change.append(lambda new, old: on_orchestrator(ctx, new, old))
    async with running(*(i.run() for i in ctx.state.informers)):
        yield
        await ctx.hub.close_all(1001, "server shutting down")  # GOING_AWAY


# the app's background work, in start order (stopped in reverse)
BACKGROUND = (
    informers,
    live_feed,
    keys.keeping,
    progress.writes,
    renewing.renewing,
    refreshing.refreshing,
)


def route_tables() -> list[web.RouteTableDef]:
    """Every route the API serves, by feature."""
    return [
        monitoring.routes,
        whoami.routes,
        websocket.routes,
        control.routes,
        nodes.routes,
        tasks.routes,
        keys.routes,
        jointokens.routes,
        progress.routes,
        openapi_routes(),
        ui.routes,
    ]


def create_app(ctx: ApiContext) -> web.Application:
    app = web.Application(
        middlewares=[request_middleware],
        client_max_size=APP_MAX_BODY,
    )
    app[CONTEXT] = ctx
    for table in route_tables():
        app.add_routes(table)
    app.cleanup_ctx.extend(BACKGROUND)
    return app
