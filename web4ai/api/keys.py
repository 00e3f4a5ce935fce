"""The keys API (admin only): ``POST /keys`` mints a key and shows it once,
``GET /keys`` lists them without secrets (last use included, coarse),
``DELETE /keys/{key_id}`` revokes one. Keys live as hashes in the key Secret
(``web4ai.core.keys``); every replica watches it, so a revocation holds everywhere
within a moment. Keys written into the Secret by hand are listed and revoked alike."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
from collections.abc import AsyncIterator

from aiohttp import web

from web4ai.api.audit import actor_of, audit
from web4ai.api.auth import ANONYMOUS
from web4ai.api.bodies import read_model
from web4ai.api.context import CONTEXT, ApiContext
from web4ai.api.errors import ApiError
from web4ai.api.lifetime import running
from web4ai.api.routing import declare
from web4ai.core.keys import KEY_ID, KeyRecord, admins_left, usage_due
from web4ai.core.schemas import credentials as cs
from web4ai.core.schemas import openapi
from web4ai.k8s.apikeys import digest, new_key, read_entries, store_entry
from web4ai.k8s.credentials import encode, forget_usage, read_usage, record_usage, remove_key

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

USAGE_EVERY = 60.0  # seconds: last use is recorded at most this often per key
FLUSH_EVERY = 30.0  # seconds between this replica's looks at its keys' uses
POLICY = 1008  # WebSocket close code: policy violation (the key no longer holds)


def key_id_param(request: web.Request) -> str:
    key_id = request.match_info["key_id"]
    if not KEY_ID.match(key_id):
        raise ApiError(404, f"No key {key_id!r}", "KEY_NOT_FOUND", id=key_id)
    return key_id


def describe(record: KeyRecord) -> str:
    node = f", node {record.node_id}" if record.node_id else ""
    return f"key {record.id} (role {record.role}{node})"


@routes.post("/api/v1/keys", name="keys_create")
@declare(admin=True, body=openapi.body_schema(cs.KeyCreate), response=cs.KeyCreated)
async def create_key(request: web.Request) -> web.Response:
    """Mint a key (role admin, read-only or node); the key is in this answer only."""
    ctx = request.app[CONTEXT]
    data = await read_model(request, cs.KeyCreate)
    now = ctx.clock()
    data.problems(now)
    key = new_key()
    record = KeyRecord(
        id=f"key-{secrets.token_hex(4)}",
        sha256=digest(key),
        role=data.role,
        node_id=data.node_id,
        capabilities=tuple(data.capabilities) if data.capabilities is not None else None,
        # whole seconds, as stored: every replica expires it at the same instant
        expires_at=math.ceil(float(data.expires_at)) if data.expires_at is not None else None,
        description=data.description,
        created_at=now,
        created_by=actor_of(request),
    )
    await store(ctx, record)
    await audit(ctx, "ApiKeyCreated", f"{describe(record)} created by {record.created_by}")
    return web.json_response({"success": True, "key": record.listing(None, now), "api_key": key})


async def store(ctx: ApiContext, record: KeyRecord) -> None:
    """Write a key into the key Secret and use it here at once."""
    keys = ctx.keys
    await store_entry(keys.api, keys.namespace, record.id, encode(record.doc()), keys.secret_name)
    keys.apply(record)


@routes.get("/api/v1/keys", name="keys")
@declare(admin=True, response=cs.KeyList)
async def list_keys(request: web.Request) -> web.Response:
    """Every key, without secrets: role, node, pinned capabilities, expiry, last use."""
    ctx = request.app[CONTEXT]
    keys = ctx.keys
    recorded = await read_usage(keys.api, keys.namespace)
    now = ctx.clock()
    listing = [
        r.listing(max(recorded.get(r.id, 0.0), keys.used.get(r.id, 0.0)) or None, now)
        for r in sorted(keys.records.values(), key=lambda r: (r.created_at or 0.0, r.id))
    ]
    return web.json_response({"success": True, "keys": listing})


@routes.delete("/api/v1/keys/{key_id}", name="keys_revoke")
@declare(admin=True, response=cs.KeyRevoked)
async def revoke_key(request: web.Request) -> web.Response:
    """Revoke a key: refused on every API replica within a moment."""
    ctx = request.app[CONTEXT]
    keys = ctx.keys
    key_id = key_id_param(request)
    keys.load(await read_entries(keys.api, keys.namespace, keys.secret_name) or {})
    record = keys.records.get(key_id)
    if record is None:
        raise ApiError(404, f"No key {key_id!r}", "KEY_NOT_FOUND", id=key_id)
    if record.role == "admin" and admins_left(keys.records, key_id, ctx.clock()) == 0:
        raise ApiError(409, "Refusing to revoke the last admin key", "LAST_ADMIN_KEY", id=key_id)
    await remove_key(keys.api, keys.namespace, key_id, keys.secret_name)
    keys.forget(key_id)
    try:
        await forget_usage(keys.api, keys.namespace, key_id)
    except Exception as exc:  # the usage record is a convenience
        log.warning("could not drop the usage of key %s: %s", key_id, exc)
    await audit(ctx, "ApiKeyRevoked", f"{describe(record)} revoked by {actor_of(request)}")
    return web.json_response({"success": True, "id": key_id, "message": f"Key {key_id} revoked"})


async def flush_usage_once(ctx: ApiContext, flushed: dict[str, float]) -> None:
    """Record the keys used here since the last look whose stored last use is a
    minute old or more: one merge patch for all of them, and an Event on a key's first
    use ever. ``flushed`` is what this replica wrote before."""
    keys = ctx.keys
    fresh = {i: t for i, t in keys.used.items() if usage_due(t, flushed.get(i), USAGE_EVERY)}
    if not fresh:
        return
    recorded = await read_usage(keys.api, keys.namespace)
    due = {
        i: t
        for i, t in fresh.items()
        if i in keys.records and usage_due(t, recorded.get(i), USAGE_EVERY)
    }
    flushed.update({i: max(t, recorded.get(i, 0.0)) for i, t in fresh.items()})
    if not due:
        return
    await record_usage(keys.api, keys.namespace, due)
    for key_id in sorted(set(due) - set(recorded)):
        await audit(ctx, "ApiKeyUsed", f"{describe(keys.records[key_id])} used for the first time")


async def flush_usage(ctx: ApiContext) -> None:
    """``flush_usage_once`` every ``FLUSH_EVERY`` seconds for the app's lifetime."""
    flushed: dict[str, float] = {}
    while True:
        await asyncio.sleep(FLUSH_EVERY)
        try:
            await flush_usage_once(ctx, flushed)
        except Exception as exc:
            log.warning("could not record the last use of API keys: %s", exc)


async def close_revoked(ctx: ApiContext, every: float = 0.5) -> None:
    """Close WebSocket sessions whose key was revoked or expired (checked every
    ``every`` seconds): a revocation ends the live feed too, not only new requests."""
    while True:
        await asyncio.sleep(every)
        now = ctx.clock()
        for client in list(ctx.hub.clients):
            p = client.principal
            if p is ANONYMOUS or ctx.keys.still_valid(p, now):
                continue
            ctx.hub.clients.discard(client)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.close(POLICY, "API key revoked or expired"), 1.0)


async def keeping(app: web.Application) -> AsyncIterator[None]:
    """For the app's lifetime (aiohttp cleanup_ctx): the watch of the key Secret (a key
    created or revoked anywhere applies here within a moment), the coarse last use, and
    the closing of WebSocket sessions whose key no longer holds."""
    ctx = app[CONTEXT]
    async with running(ctx.keys.watch().run(), flush_usage(ctx), close_revoked(ctx)):
        yield
