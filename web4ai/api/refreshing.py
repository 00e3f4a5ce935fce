"""Status refreshes in batches: a heartbeat whose status moved writes it at once, but
one that only refreshes an unchanged status (``lastHeartbeat``, about every ten
intervals: ``web4ai.core.heartbeats``) is kept here, the latest per node, and written
with the others once a second. At 10,000 nodes that is ~10 node writes a second, and
each written alone woke the API and the operator for the write and its watch events."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from web4ai.api.context import CONTEXT, ApiContext
from web4ai.api.errors import ApiError
from web4ai.api.lifetime import at_shutdown, in_batches, running
from web4ai.api.nodes import write_node_status
from web4ai.core import heartbeats
from web4ai.core.ids import IdKind, identity
from web4ai.core.schemas.requests import Heartbeat

log = logging.getLogger(__name__)

EVERY = 1.0  # s: how often the kept refreshes are written
AT_ONCE = 32  # written concurrently
SHUTDOWN_WRITES = 5.0  # s: the most shutdown waits for them


async def _refresh(ctx: ApiContext, node_id: str, data: Heartbeat, when: float) -> None:
    body = ctx.state.nodes_by_name.get(identity(IdKind.NODE, node_id).name)
    if body is None or body["metadata"].get("deletionTimestamp"):
        return  # unregistered meanwhile
    refresh = heartbeats.status_refresh(ctx.status_refresh, ctx.state.heartbeat_interval())
    try:  # computed on the node as it is now: None when written meanwhile
        await write_node_status(
            ctx, body, lambda node: heartbeats.heartbeat_patch(data, node, when, refresh)
        )
    except ApiError:
        pass  # gone: nothing to refresh
    except Exception as exc:  # the node's next heartbeat keeps it again
        log.warning("refreshing the status of node %s failed: %s", node_id, exc)


async def write_kept(ctx: ApiContext) -> int:
    """Write every kept refresh, ``AT_ONCE`` at a time; how many."""
    kept = list(ctx.refreshes.items())
    ctx.refreshes.clear()
    await in_batches(kept, lambda item: _refresh(ctx, item[0], *item[1]), AT_ONCE)
    return len(kept)


async def _write_forever(ctx: ApiContext) -> None:
    while True:
        await asyncio.sleep(EVERY)
        await write_kept(ctx)


async def refreshing(app: web.Application) -> AsyncIterator[None]:
    """Write the kept refreshes once a second for the app's lifetime, and those still
    kept at shutdown (aiohttp ``cleanup_ctx``)."""
    ctx = app[CONTEXT]
    async with running(_write_forever(ctx)):
        yield
    if ctx.refreshes:
        await at_shutdown(write_kept(ctx), SHUTDOWN_WRITES, "status refreshes")
