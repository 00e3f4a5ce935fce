"""Join tokens (admin): ``POST /join-tokens`` makes one (shown once), ``GET`` lists
them, ``DELETE /join-tokens/{token_id}`` revokes one. ``POST /join`` (no key: the token
is the Bearer credential) registers a node within the token's limits and returns the
node's own key, as a kubelet's bootstrap token buys it its own credential. A refused
token is a 401 that says why (malformed, unknown, expired, used up, revoked) and spends
the address's budget of failed authentications, as a wrong key does."""

from __future__ import annotations

import asyncio
import math
import random

from aiohttp import web

from web4ai.api.access import too_many_failures
from web4ai.api.audit import actor_of, audit
from web4ai.api.auth import Principal, bearer_key, principal_of
from web4ai.api.bodies import read_model
from web4ai.api.context import CONTEXT, ApiContext
from web4ai.api.errors import ApiError
from web4ai.api.keys import describe, store
from web4ai.api.nodes import register_node
from web4ai.api.routing import declare
from web4ai.core import jointokens as jt
from web4ai.core.ids import IdKind, identity
from web4ai.core.keys import KeyRecord
from web4ai.core.restriction import registration_refusal
from web4ai.core.schemas import credentials as cs
from web4ai.core.schemas import openapi
from web4ai.k8s.apikeys import digest, new_key
from web4ai.k8s.credentials import (
    drop_tokens,
    new_token,
    put_token,
    random_suffix,
    read_tokens,
    remove_key,
    swap_token,
)

routes = web.RouteTableDef()

SWAP_ATTEMPTS = 64  # a token joined by many nodes at once: each use is one guarded patch
KEEP_EXPIRED = 7 * 86400.0  # seconds an expired token is kept (and listed) after its expiry


def token_id_param(request: web.Request) -> str:
    token_id = request.match_info["token_id"]
    if not jt.TOKEN_ID.match(token_id):
        raise ApiError(404, f"No join token {token_id!r}", "JOIN_TOKEN_NOT_FOUND", id=token_id)
    return token_id


@routes.post("/api/v1/join-tokens", name="join_tokens_create")
@declare(admin=True, body=openapi.body_schema(cs.JoinTokenCreate), response=cs.JoinTokenCreated)
async def create_token(request: web.Request) -> web.Response:
    """Make a join token (ttl default 24 h, at most 7 d; uses default 1): shown once."""
    ctx = request.app[CONTEXT]
    data = await read_model(request, cs.JoinTokenCreate)
    now = ctx.clock()
    token = new_token()
    token_id, _ = token.split(".")
    record = jt.TokenRecord(
        id=token_id,
        sha256=digest(token),
        uses=int(data.uses),
        expires_at=math.ceil(now + float(data.ttl)),  # whole seconds, as stored
        capabilities=tuple(data.capabilities) if data.capabilities is not None else None,
        node_prefix=data.node_prefix,
        description=data.description,
        created_at=now,
        created_by=actor_of(request),
    )
    await put_token(ctx.keys.api, ctx.keys.namespace, record)
    await prune(ctx, now)
    await audit(
        ctx,
        "JoinTokenCreated",
        f"join token {token_id} ({record.uses} use(s), expires {record.listing(now)['expires_at']})"
        f" created by {record.created_by}",
    )
    return web.json_response({"success": True, "join_token": record.listing(now), "token": token})


async def prune(ctx: ApiContext, now: float) -> None:
    """Drop tokens that expired more than ``KEEP_EXPIRED`` ago (the Secret stays small)."""
    tokens = await read_tokens(ctx.keys.api, ctx.keys.namespace)
    stale = [i for i, (r, _) in tokens.items() if now - r.expires_at > KEEP_EXPIRED]
    await drop_tokens(ctx.keys.api, ctx.keys.namespace, stale)


@routes.get("/api/v1/join-tokens", name="join_tokens")
@declare(admin=True, response=cs.JoinTokenList)
async def list_tokens(request: web.Request) -> web.Response:
    """Every join token, without secrets: state, uses left, expiry."""
    ctx = request.app[CONTEXT]
    now = ctx.clock()
    tokens = await read_tokens(ctx.keys.api, ctx.keys.namespace)
    listing = [
        r.listing(now) for r, _ in sorted(tokens.values(), key=lambda t: t[0].created_at or 0.0)
    ]
    return web.json_response({"success": True, "join_tokens": listing})


@routes.delete("/api/v1/join-tokens/{token_id}", name="join_tokens_revoke")
@declare(admin=True, response=cs.JoinTokenRevoked)
async def revoke_token(request: web.Request) -> web.Response:
    """Revoke a join token: no node joins with it from now on."""
    ctx = request.app[CONTEXT]
    token_id = token_id_param(request)
    who = actor_of(request)
    for _ in range(SWAP_ATTEMPTS):
        found = (await read_tokens(ctx.keys.api, ctx.keys.namespace)).get(token_id)
        if found is None:
            raise ApiError(404, f"No join token {token_id!r}", "JOIN_TOKEN_NOT_FOUND", id=token_id)
        record, raw = found
        if record.revoked_at is not None:
            break
        if await swap_token(
            ctx.keys.api, ctx.keys.namespace, raw, record.revoked(ctx.clock(), who)
        ):
            await audit(ctx, "JoinTokenRevoked", f"join token {token_id} revoked by {who}")
            break
    else:
        raise ApiError(409, "The join token kept changing; retry", "CONFLICT", id=token_id)
    return web.json_response(
        {"success": True, "id": token_id, "message": f"Join token {token_id} revoked"}
    )


def refused(ctx: ApiContext, address: str, why: str) -> ApiError:
    """A 401 for a join token, counted against the address's failure budget."""
    ctx.auth_failures.failed(address, ctx.clock())
    return ApiError(
        401,
        jt.REFUSALS[why],
        "AUTHENTICATION_FAILED",
        headers={"WWW-Authenticate": 'Bearer realm="web4ai"'},
        reason=why,
    )


async def take_use(ctx: ApiContext, token: str, address: str) -> jt.TokenRecord:
    """Spend one use of ``token`` (a guarded patch; retried while other joins race),
    or raise its 401. Returns the record as it was before this use."""
    parts = jt.split_token(token)
    if parts is None:
        raise refused(ctx, address, "malformed")
    for _ in range(SWAP_ATTEMPTS):
        found = (await read_tokens(ctx.keys.api, ctx.keys.namespace)).get(parts[0])
        record = found[0] if found else None
        why = jt.refusal(record, record is not None and record.sha256 == digest(token), ctx.clock())
        if why is not None or found is None or record is None:
            raise refused(ctx, address, why or "unknown")
        if await swap_token(ctx.keys.api, ctx.keys.namespace, found[1], record.one_used()):
            return record
        await asyncio.sleep(random.uniform(0.005, 0.05))
    raise ApiError(
        503, "The join token is busy; retry", "SERVICE_UNAVAILABLE", headers={"Retry-After": "1"}
    )


async def give_back(ctx: ApiContext, token_id: str) -> None:
    """Return a use whose join failed after it was taken."""
    for _ in range(SWAP_ATTEMPTS):
        found = (await read_tokens(ctx.keys.api, ctx.keys.namespace)).get(token_id)
        if found is None or await swap_token(
            ctx.keys.api, ctx.keys.namespace, found[1], found[0].one_returned()
        ):
            return


@routes.post("/api/v1/join", name="join")
@declare(public=True, body=openapi.body_schema(cs.JoinRequest), response=cs.Joined)
async def join(request: web.Request) -> web.Response:
    """Join with a token (``Authorization: Bearer <token>``): registers the node and
    returns its own node key, once."""
    ctx = request.app[CONTEXT]
    address = request.remote or "unknown"
    retry = ctx.auth_failures.retry_after(address, ctx.clock())
    if retry > 0:
        raise too_many_failures(retry)
    token = bearer_key(request.headers.get("Authorization")) or ""
    if jt.split_token(token) is None:
        raise refused(ctx, address, "malformed")
    data = await read_model(request, cs.JoinRequest)
    # check the token (without spending it) before the body's own limits
    token_id = token.split(".")[0]
    found = (await read_tokens(ctx.keys.api, ctx.keys.namespace)).get(token_id)
    record = found[0] if found else None
    why = jt.refusal(record, record is not None and record.sha256 == digest(token), ctx.clock())
    if why is not None or record is None:
        raise refused(ctx, address, why or "unknown")
    node_id, bad_id = jt.join_node_id(record, data.node_id, random_suffix(jt.NODE_SUFFIX_LEN))
    if bad_id:
        raise ApiError(403, bad_id, "FORBIDDEN", node_id=node_id)
    spec = data.spec(node_id)
    limit = ctx.state.settings().max_agents_per_node
    refusal = registration_refusal(spec, limit, record.capabilities)
    if refusal:
        raise ApiError(403, refusal.replace("node key", "join token"), "FORBIDDEN")
    if ctx.state.nodes_by_name.get(identity(IdKind.NODE, node_id).name) is not None:
        raise ApiError(
            409,
            f"Node {node_id} exists; a join token makes new nodes only",
            "NODE_EXISTS",
            node_id=node_id,
        )
    before = await take_use(ctx, token, address)
    key = new_key()
    now = ctx.clock()
    key_record = KeyRecord(
        id=f"joined-{node_id}",
        sha256=digest(key),
        role="node",
        node_id=node_id,
        capabilities=record.capabilities,
        description=f"joined with join token {token_id}",
        created_at=now,
        created_by=f"join-token:{token_id}",
    )
    principal: Principal = principal_of(key_record)
    try:
        await store(ctx, key_record)
        answer = await register_node(ctx, node_id, data, principal)
    except BaseException:
        await undo(ctx, key_record.id, token_id)
        raise
    await audit(ctx, "ApiKeyCreated", f"{describe(key_record)} created by {key_record.created_by}")
    await audit(
        ctx,
        "JoinTokenUsed",
        f"join token {token_id} used by node {node_id} from {address} "
        f"({before.used + 1}/{before.uses} uses); key {key_record.id} created for it",
    )
    return web.json_response(
        {
            "success": True,
            "node_id": node_id,
            "key_id": key_record.id,
            "api_key": key,
            "heartbeat_interval": answer["heartbeat_interval"],
            "message": f"Node {node_id} joined",
        }
    )


async def undo(ctx: ApiContext, key_id: str, token_id: str) -> None:
    """A join that failed after spending its use: no key stays, the use comes back."""
    ctx.keys.forget(key_id)
    try:
        await remove_key(ctx.keys.api, ctx.keys.namespace, key_id, ctx.keys.secret_name)
    finally:
        await give_back(ctx, token_id)
