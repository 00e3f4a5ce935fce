"""Heartbeats into node Leases: a heartbeat renews its node's Lease at once or is held
and written later with its own time (``web4ai.core.renewals``: a Lease write about every
second heartbeat, liveness as exact as before). ``renewing`` writes the held ones when
they fall due, in batches (those due within a second go together), and every one still
held at shutdown (aiohttp ``cleanup_ctx``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from web4ai.api.context import CONTEXT, ApiContext
from web4ai.api.errors import ApiError
from web4ai.api.lifetime import at_shutdown, in_batches, running
from web4ai.core import bodies, heartbeats
from web4ai.core.crs import NodeBody
from web4ai.core.ids import IdKind, identity, node_lease_name
from web4ai.core.renewals import batch_slack
from web4ai.core.resources import LEASES
from web4ai.k8s.errors import Conflict, K8sError, NotFound

log = logging.getLogger(__name__)

IDLE = 1.0  # s: the longest the writer sleeps with nothing due
AT_ONCE = 32  # held renewals written concurrently
SHUTDOWN_WRITES = 10.0  # s: the most shutdown waits for the held renewals


async def renew_lease(ctx: ApiContext, node_id: str, when: float) -> None:
    """Renew the node's own Lease with ``when`` (``web4ai.core.heartbeats``); 409 when a
    Lease of that name exists and is not the node's. Its time is known from then on."""
    ident = identity(IdKind.NODE, node_id)
    name = node_lease_name(ident.name)
    spec = heartbeats.lease_spec(node_id, ctx.state.heartbeat_interval(), when)
    try:
        await ctx.writer.json_patch_only(LEASES, name, heartbeats.renewal_ops(node_id, spec))
    except NotFound:
        # Conflict: created meanwhile by a concurrent heartbeat, so renewed
        with contextlib.suppress(Conflict):
            await ctx.writer.create(LEASES, heartbeats.node_lease(ident, spec, when))
    except K8sError as exc:
        if 400 <= exc.status < 500:
            raise ApiError(
                409,
                f"Lease {name} exists and is not this node's",
                "CONFLICT",
                node_id=node_id,
            ) from None
        raise
    ctx.renewals.wrote(node_id, when)


async def heartbeat_taken(ctx: ApiContext, node: NodeBody, now: float) -> None:
    """A heartbeat of ``node`` at ``now``: its Lease renewed now, or the heartbeat held."""
    node_id = bodies.node_id(node)
    interval = ctx.state.heartbeat_interval()
    if ctx.renewals.beat(node_id, now, interval, ctx.state.lease_seen(node)):
        await renew_lease(ctx, node_id, now)
    else:
        ctx.state.held_beat(bodies.name_of(node), now)


async def _write_held(ctx: ApiContext, node_id: str, when: float) -> None:
    name = identity(IdKind.NODE, node_id).name
    body = ctx.state.nodes_by_name.get(name)
    if body is None or body["metadata"].get("deletionTimestamp"):
        ctx.renewals.forget(node_id)  # unregistered meanwhile: no Lease to renew
        return
    try:
        await renew_lease(ctx, node_id, when)
    except ApiError:  # the Lease is not the node's: its next heartbeat answers 409
        ctx.renewals.forget(node_id)
    except Exception as exc:  # tried again, never lost
        log.warning("renewing the Lease of node %s failed: %s", node_id, exc)
        ctx.renewals.failed(node_id, when, ctx.clock())


async def write_held(ctx: ApiContext, held: list[tuple[str, float]]) -> None:
    """Write these held renewals (node id, heartbeat time), ``AT_ONCE`` at a time."""
    await in_batches(held, lambda item: _write_held(ctx, *item), AT_ONCE)


async def write_due(ctx: ApiContext, now: float) -> int:
    """Write the held renewals due at ``now``, and in the same batch those due soon
    after (``batch_slack``); how many."""
    due = ctx.renewals.due(now, batch_slack(ctx.state.heartbeat_interval()))
    await write_held(ctx, due)
    return len(due)


async def _write_forever(ctx: ApiContext) -> None:
    while True:
        next_due = ctx.renewals.next_due()
        wait = IDLE if next_due is None else min(IDLE, max(0.0, next_due - ctx.clock()))
        await asyncio.sleep(wait)
        await write_due(ctx, ctx.clock())


async def renewing(app: web.Application) -> AsyncIterator[None]:
    """Write held renewals as they fall due for the app's lifetime; at shutdown, every
    one still held (a node's last heartbeats are on its Lease before we go)."""
    ctx = app[CONTEXT]
    async with running(_write_forever(ctx)):
        yield
    held = ctx.renewals.held()
    if held:
        await at_shutdown(
            write_held(ctx, held), SHUTDOWN_WRITES, f"{len(held)} held Lease renewals"
        )
