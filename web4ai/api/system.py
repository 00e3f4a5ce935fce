"""Health, status, metrics, control, configuration and the WebSocket endpoints."""

from __future__ import annotations

import datetime as dt
from typing import Any

import psutil
from aiohttp import WSCloseCode, WSMsgType, web
from multidict import CIMultiDict

from web4ai.api.access import too_many_failures
from web4ai.api.auth import (
    ANONYMOUS,
    PRINCIPAL_KEY,
    SUBPROTOCOL,
    Principal,
    bearer_key,
    split_protocols,
)
from web4ai.api.context import CONTEXT, ApiContext
from web4ai.api.errors import ApiError, json_bytes, now_iso, read_json
from web4ai.api.hub import message
from web4ai.api.presenting import (
    network_metrics,
    network_summary,
    node_public,
    node_weights,
    recommendations,
    status_document,
    status_parts,
)
from web4ai.api.rendering import Template, template_response
from web4ai.api.routing import NodeAccess, declare, query_param
from web4ai.api.tasks import int_query
from web4ai.core import bodies, patches
from web4ai.core.config import (
    config_to_spec,
    deep_merge,
    spec_to_config,
    spec_value,
    validate_config,
)
from web4ai.core.ids import IdKind, identity
from web4ai.core.schemas import config, openapi, responses
from web4ai.k8s.errors import Conflict, Invalid, NotFound

routes = web.RouteTableDef()


def uptime_text(seconds: float) -> str:
    return str(dt.timedelta(seconds=int(seconds)))


@routes.get("/api/v1/health", name="health")
@declare(public=True, node=NodeAccess.ANY, response=responses.Health)
async def health(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    boot = psutil.boot_time()
    return web.json_response(
        {
            "status": "healthy" if ctx.state.synced else "starting",
            "orchestrator_id": ctx.orchestrator_id,
            "timestamp": now_iso(),
            "version": ctx.version,
            "system": {
                "cpu_usage": psutil.cpu_percent(interval=None),
                "memory_usage": psutil.virtual_memory().percent,
                "disk_usage": psutil.disk_usage("/").percent,
                "uptime": uptime_text(ctx.clock() - boot),
            },
        },
        status=200 if ctx.state.synced else 503,
    )


def summary(ctx: ApiContext, now: float) -> dict[str, Any]:
    """network_summary, computed once per change of the stores and second."""
    st = ctx.state
    version = (*st.versions(st.nodes, st.tasks, st.leases, st.orchestrators), int(now))
    result: dict[str, Any] = ctx.memoized("summary", version, lambda: network_summary(st, now))
    return result


def status_data(ctx: ApiContext) -> dict[str, Any]:
    now = ctx.clock()
    return status_document(
        ctx.state,
        ctx.orchestrator_id,
        now,
        now - ctx.stats.start_time,
        ctx.stats.as_dict(),
        summary(ctx, now),
    )


def status_template(ctx: ApiContext) -> tuple[Template, tuple[bytes, bytes, bytes]]:
    """``status_data`` as a template rendered once per change of the stores and second
    (``status_parts``), and its values now: the clock, the uptime, the counters."""
    now = ctx.clock()
    st = ctx.state
    version = (*st.versions(st.nodes, st.tasks, st.leases, st.orchestrators), int(now))

    def render() -> Template:
        head, rest = status_parts(
            status_document(st, ctx.orchestrator_id, now, 0.0, {}, summary(ctx, now))
        )
        return Template((head, b', "uptime": ', rest, b"}"))

    template: Template = ctx.memoized("status", version, render)
    values = (
        json_bytes(now),
        json_bytes(round(now - ctx.stats.start_time, 2)),
        json_bytes(ctx.stats.as_dict()),
    )
    return template, values


@routes.get("/api/v1/status", name="status")
@declare(response=responses.NetworkStatus)
async def status(request: web.Request) -> web.Response:
    return template_response(request, *status_template(request.app[CONTEXT]))


@routes.get("/api/v1/metrics", name="metrics")
@declare(response=responses.MetricsAnswer)
async def metrics(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    now = ctx.clock()
    s = summary(ctx, now)
    settings = ctx.state.settings()
    return web.json_response(
        {
            "success": True,
            "metrics": {
                "timestamp": now_iso(),
                "network": network_metrics(s) | {"uptime": round(now - ctx.stats.start_time, 2)},
                "nodes": {
                    "total": s["total_nodes"],
                    "active": s["active_nodes"],
                    "avg_cpu_usage": s["avg_cpu_usage"],
                    "avg_memory_usage": s["avg_memory_usage"],
                    "avg_load_score": s["avg_load_score"],
                },
                "tasks": {
                    "pending": s["tasks"]["pending"],
                    "active": s["tasks"]["active"],
                    "completed_total": s["tasks_completed"],
                    "failed_total": s["tasks_failed"],
                    "success_rate": s["success_rate"],
                },
                "api": ctx.stats.as_dict(),
                "websocket": {
                    "connected_clients": ctx.hub.connected,
                    "published": ctx.hub.published,
                    "disconnected_slow": ctx.hub.disconnected_slow,
                },
                "load_balancer": {
                    "algorithm": settings.algorithm.value,
                    "node_weights": node_weights(ctx.state),
                },
            },
        }
    )


@routes.get("/api/v1/metrics/performance", name="performance")
@declare(response=responses.PerformanceAnswer)
async def performance(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    now = ctx.clock()
    s = summary(ctx, now)
    settings = ctx.state.settings()
    return web.json_response(
        {
            "success": True,
            "performance_analysis": {
                "timestamp": now,
                "network_utilization": s["network_utilization"],
                "avg_response_time": s["average_response_time"],
                "task_throughput": s["throughput_per_minute"],
                "monitoring_enabled": settings.monitoring_enabled,
                "optimization_enabled": settings.optimization_enabled,
                "recommendations": recommendations(ctx.state, settings, s),
            },
        }
    )


WINDOW_QUERY = query_param(
    "window",
    {"type": "integer", "minimum": 1, "maximum": 3600, "default": 900},
    "seconds of history to return (the buffer keeps one hour)",
)


@routes.get("/api/v1/metrics/history", name="metrics_history")
@declare(query=[WINDOW_QUERY], response=responses.HistoryAnswer)
async def metrics_history(request: web.Request) -> web.Response:
    """Recent samples of the headline numbers (a bounded in-memory ring buffer)."""
    ctx = request.app[CONTEXT]
    history = ctx.history
    window = int_query(request, "window", 900, 1, int(history.retention))
    return web.json_response(
        {
            "success": True,
            "interval": history.every,
            "window": window,
            "samples": history.window(window, ctx.clock()),
        }
    )


@routes.get("/api/v1/whoami", name="whoami")
@declare(public=True, response=responses.WhoAmI)
async def whoami(request: web.Request) -> web.Response:
    """The caller's key: valid or not, its name and role (the dashboard's sign-in).
    Answers without a key too, with ``authenticated: false``."""
    ctx = request.app[CONTEXT]
    required = bool(spec_value(ctx.state.settings_spec(), "security", "apiKeyRequired"))
    key = bearer_key(request.headers.get("Authorization"))
    address = request.remote or "unknown"
    if key:
        # guessing keys here costs what it costs on any route: the per-address
        # budget of failed authentications (web4ai.api.access)
        retry = ctx.auth_failures.retry_after(address, ctx.clock())
        if retry > 0:
            raise too_many_failures(retry)
    principal = await ctx.keys.authenticate_fresh(key, ctx.clock()) if key else None
    if key and principal is None:
        ctx.auth_failures.failed(address, ctx.clock())
    if not required:
        principal = principal or ANONYMOUS
    return web.json_response(
        {
            "success": True,
            "api_key_required": required,
            "authenticated": principal is not None,
            "name": principal.name if principal else None,
            "role": principal.role if principal else None,
            "node_id": principal.node_id if principal else None,
        }
    )


@routes.get("/api/v1/websocket/info", name="websocket_info")
@declare(response=responses.WebsocketAnswer)
async def websocket_info(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    spec = ctx.state.settings_spec()
    configured = int((spec.get("websocket") or {}).get("port", ctx.ws_port))
    return web.json_response(
        {
            "success": True,
            "websocket": {
                "enabled": ctx.state.settings().websocket_enabled,
                "url": ctx.websocket_url,
                "urls": [
                    ctx.websocket_url,
                    str(request.url.with_path("/api/v1/ws")).replace("http", "ws", 1),
                ],
                "path": "/api/v1/ws",
                "port": ctx.ws_port,
                "configured_port": configured,
                "restart_required": configured != ctx.ws_port,
                "connected_clients": ctx.hub.connected,
                "max_connections": int(spec_value(spec, "websocket", "maxConnections")),
            },
        }
    )


async def set_paused(ctx: ApiContext, paused: bool) -> None:
    try:
        result = await ctx.writer.patch(
            bodies.ORCHESTRATORS, bodies.ORCHESTRATOR_NAME, {"spec": {"paused": paused}}
        )
    except NotFound:
        raise ApiError(
            503, "The orchestrator configuration object is missing", "ORCHESTRATOR_NOT_STARTED"
        ) from None
    ctx.state.record_orchestrator(result)


async def control(request: web.Request, paused: bool, verb: str) -> web.Response:
    ctx = request.app[CONTEXT]
    await set_paused(ctx, paused)
    return web.json_response(
        {
            "success": True,
            "message": f"Orchestrator {verb} successfully",
            "orchestrator_id": ctx.orchestrator_id,
        }
    )


@routes.post("/api/v1/control/start", name="control_start")
@declare(response=responses.ControlAnswer)
async def control_start(request: web.Request) -> web.Response:
    """Resume assignments and task submission."""
    return await control(request, False, "started")


@routes.post("/api/v1/control/stop", name="control_stop")
@declare(response=responses.ControlAnswer)
async def control_stop(request: web.Request) -> web.Response:
    """Pause: no new assignments; task submission answers 503."""
    return await control(request, True, "stopped")


@routes.get("/api/v1/config", name="config")
@declare(response=responses.ConfigAnswer)
async def get_config(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    return web.json_response({"success": True, "config": spec_to_config(ctx.state.settings_spec())})


def check_config(doc: Any) -> None:
    """400 INVALID_CONFIG listing every problem of a config document."""
    errors = validate_config(doc)
    if errors:
        raise ApiError(
            400,
            "Configuration validation failed: "
            + "; ".join(f"{e.field}: {e.message}" for e in errors),
            "INVALID_CONFIG",
            errors=[e.as_dict() for e in errors],
        )


CONFIG_BODY = openapi.body_schema(config.Config)


@routes.put("/api/v1/config", name="config_put")
@declare(body=CONFIG_BODY, response=responses.ConfigAnswer)
async def put_config(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    update = await read_json(request)
    check_config(update)
    orch = ctx.state.orchestrator()
    if orch is None:
        raise ApiError(
            503, "The orchestrator configuration object is missing", "ORCHESTRATOR_NOT_STARTED"
        )
    merged = deep_merge(spec_to_config(orch.get("spec")), update)
    check_config(merged)
    try:
        result = await ctx.writer.patch(
            bodies.ORCHESTRATORS,
            bodies.ORCHESTRATOR_NAME,
            patches.guarded(orch, {"spec": config_to_spec(merged)}),
        )
    except Invalid as exc:
        raise ApiError(400, f"Configuration rejected: {exc.reason}", "INVALID_CONFIG") from None
    except Conflict:
        raise ApiError(409, "The configuration changed meanwhile; retry", "CONFLICT") from None
    except NotFound:
        raise ApiError(
            503, "The orchestrator configuration object is missing", "ORCHESTRATOR_NOT_STARTED"
        ) from None
    recorded = ctx.state.record_orchestrator(result)
    body: dict[str, Any] = {
        "success": True,
        "message": "Configuration updated",
        "config": spec_to_config(recorded.get("spec")),
    }
    port = (update.get("websocket") or {}).get("port")
    if port is not None and port != ctx.ws_port:
        body["message"] += "; websocket.port applies at the next start of the API"
        body["restart_required"] = ["websocket.port"]
    return web.json_response(body)


def initial_status(ctx: ApiContext, principal: Principal = ANONYMOUS) -> str:
    """The first message of a connection: the network status, or for a node key
    (which REST does not show the network) its own node only."""
    if principal.role != "node":
        return message("initial_status", status_data(ctx)["data"])
    body = ctx.state.nodes_by_name.get(identity(IdKind.NODE, principal.node_id or "x").name)
    node = node_public(body, ctx.state) if body is not None and principal.node_id else None
    return message(
        "initial_status",
        {"orchestrator_id": ctx.orchestrator_id, "timestamp": ctx.clock(), "node": node},
    )


def without_bearer_protocol(request: web.Request) -> web.Request:
    """The request with the key's subprotocol entry removed, so that nothing
    downstream (aiohttp's negotiation, its warnings) sees or logs the key."""
    header = request.headers.get("Sec-WebSocket-Protocol")
    if header is None:
        return request
    _, real = split_protocols(header)
    headers = CIMultiDict(request.headers)
    del headers["Sec-WebSocket-Protocol"]
    if real:
        headers["Sec-WebSocket-Protocol"] = ", ".join(real)
    return request.clone(headers=headers)


@routes.get("/api/v1/ws", name="ws")
@declare(node=NodeAccess.ANY)  # the feed is filtered to its own node and tasks
async def websocket(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CONTEXT]
    if not ctx.state.settings().websocket_enabled:
        raise ApiError(
            503,
            "WebSocket updates are disabled; PUT /api/v1/config websocket.enabled: true",
            "WEBSOCKET_DISABLED",
        )
    if ctx.hub.full():
        raise ApiError(
            503,
            "Too many WebSocket connections",
            "TOO_MANY_CONNECTIONS",
            max_connections=ctx.hub.max_connections(),
        )
    # Browsers authenticate with a subprotocol entry (see web4ai.api.access); only the
    # real subprotocol is echoed back, and the key's entry never reaches aiohttp.
    principal: Principal = request.get(PRINCIPAL_KEY, ANONYMOUS)
    ws = web.WebSocketResponse(heartbeat=30, protocols=(SUBPROTOCOL,), max_msg_size=64 * 1024)
    await ws.prepare(without_bearer_protocol(request))

    async def send(frame: bytes) -> None:
        await ws.send_frame(frame, WSMsgType.TEXT)  # the hub's bytes, as a text frame

    async def close(code: int, reason: str) -> None:
        await ws.close(code=code, message=reason.encode())

    async def receive() -> bool:
        msg = await ws.receive()
        return msg.type not in (
            WSMsgType.CLOSE,
            WSMsgType.CLOSED,
            WSMsgType.CLOSING,
            WSMsgType.ERROR,
        )

    await ctx.hub.serve(
        send, close, initial_status(ctx, principal), receive, principal, transport="same_origin"
    )
    if not ws.closed:
        await ws.close(code=WSCloseCode.GOING_AWAY)
    return ws
