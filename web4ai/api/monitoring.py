"""Health, the network status, metrics, performance and the metrics history."""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple

import psutil
from aiohttp import web

from web4ai.api.context import CONTEXT, ApiContext
from web4ai.api.errors import now_iso
from web4ai.api.livefeed import status_template, summary
from web4ai.api.params import int_query
from web4ai.api.presenting import network_metrics, node_weights, recommendations
from web4ai.api.rendering import template_response
from web4ai.api.routing import NodeAccess, declare, query_param
from web4ai.core.config import Settings
from web4ai.core.schemas import responses

routes = web.RouteTableDef()


class Summarized(NamedTuple):
    """What /metrics and /metrics/performance answer from: the network summary now."""

    ctx: ApiContext
    now: float
    s: dict[str, Any]  # ``network_summary``
    settings: Settings


def summarized(request: web.Request) -> Summarized:
    ctx = request.app[CONTEXT]
    now = ctx.clock()
    return Summarized(ctx, now, summary(ctx, now), ctx.state.settings())


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


@routes.get("/api/v1/status", name="status")
@declare(response=responses.NetworkStatus)
async def status(request: web.Request) -> web.Response:
    return template_response(request, *status_template(request.app[CONTEXT]))


@routes.get("/api/v1/metrics", name="metrics")
@declare(response=responses.MetricsAnswer)
async def metrics(request: web.Request) -> web.Response:
    ctx, now, s, settings = summarized(request)
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
    ctx, now, s, settings = summarized(request)
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
