"""Who is calling: the one authentication rule of REST and both WebSocket transports.

A key comes from ``Authorization: Bearer``, or on a WebSocket handshake from the
bearer subprotocol entry (see ``web4ai.api.auth``); never from the URL. Failed
attempts are limited per client address (429 ``RATE_LIMITED`` with
``Retry-After``). Nothing here logs a key.
"""

from __future__ import annotations

import logging
import math

from web4ai.api.auth import ANONYMOUS, Principal, bearer_key, split_protocols
from web4ai.api.context import ApiContext
from web4ai.api.errors import ApiError

log = logging.getLogger(__name__)


def keys_required(ctx: ApiContext) -> bool:
    return ctx.state.settings().api_key_required


def too_many_failures(retry: float) -> ApiError:
    return ApiError(
        429,
        "Too many failed authentication attempts from this address",
        "RATE_LIMITED",
        headers={"Retry-After": str(max(1, math.ceil(retry)))},
        retry_after=round(retry, 3),
    )


async def authenticate(
    ctx: ApiContext,
    authorization: str | None,
    remote: str | None,
    protocols: str | None = None,
) -> Principal:
    """The caller's principal; raises 401 for a missing or invalid key (when keys are
    required) and 429 while its address has failed too often. ``protocols`` is the
    Sec-WebSocket-Protocol header of a WebSocket handshake (None for REST)."""
    if not keys_required(ctx):
        return ANONYMOUS
    address = remote or "unknown"
    now = ctx.clock()
    retry = ctx.auth_failures.retry_after(address, now)
    if retry > 0:
        raise too_many_failures(retry)
    key = bearer_key(authorization)
    if key is None and protocols is not None:
        key, _ = split_protocols(protocols)
    principal = await ctx.keys.authenticate_fresh(key, now) if key else None
    if principal is None:
        ctx.auth_failures.failed(address, now)
        raise ApiError(
            401,
            ctx.keys.refusal(key),
            "AUTHENTICATION_FAILED",
            headers={"WWW-Authenticate": 'Bearer realm="web4ai"'},
        )
    return principal
