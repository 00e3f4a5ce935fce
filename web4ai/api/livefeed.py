"""The live feed: the network summary and ``network_status`` (built here, published
to WebSocket clients every ``NETWORK_STATUS_EVERY`` seconds), the first message of a
connection, and the metrics history sampled from the same summary. ``live_feed``
runs both loops for the app's lifetime (aiohttp ``cleanup_ctx``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from web4ai.api.auth import ANONYMOUS, Principal
from web4ai.api.context import CONTEXT, ApiContext
from web4ai.api.errors import json_bytes
from web4ai.api.history import sample_forever, sample_of
from web4ai.api.hub import message
from web4ai.api.lifetime import running
from web4ai.api.presenting import network_summary, node_public, status_document, status_parts
from web4ai.api.rendering import Template
from web4ai.core.ids import IdKind, identity

NETWORK_STATUS_EVERY = 5.0


def summary(ctx: ApiContext, now: float) -> dict[str, Any]:
    """network_summary, computed once per change of the stores it reads and second (not
    the Leases: a renewal changes none of its numbers); the nodes' numbers are kept as
    they change (``ctx.node_totals``)."""
    st = ctx.state
    version = (*st.versions(st.nodes, st.tasks, st.orchestrators), int(now))
    result: dict[str, Any] = ctx.memoized(
        "summary", version, lambda: network_summary(st, ctx.node_totals, now)
    )
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


async def network_status(ctx: ApiContext) -> None:
    while True:
        await asyncio.sleep(NETWORK_STATUS_EVERY)
        if ctx.hub.connected and not ctx.state.settings().websocket_enabled:
            await ctx.hub.close_all(1001, "WebSocket updates are disabled")
        elif ctx.hub.connected:
            ctx.hub.publish("network_status", status_data(ctx)["data"])


async def sample_history(ctx: ApiContext) -> None:
    """Feed the metrics history from the watch cache once it is synced."""
    await ctx.state.wait_synced()

    def take() -> dict[str, Any]:
        now = ctx.clock()
        return sample_of(summary(ctx, now), now)

    await sample_forever(ctx.history, take, lambda: ctx.state.settings().monitoring_enabled)


async def live_feed(app: web.Application) -> AsyncIterator[None]:
    """``network_status`` every ``NETWORK_STATUS_EVERY`` seconds and the metrics
    history, for the app's lifetime (aiohttp ``cleanup_ctx``)."""
    ctx = app[CONTEXT]
    async with running(network_status(ctx), sample_history(ctx)):
        yield
