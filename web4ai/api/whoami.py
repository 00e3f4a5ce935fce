"""GET /whoami: the caller's key, valid or not (the dashboard's sign-in)."""

from __future__ import annotations

from aiohttp import web

from web4ai.api.access import too_many_failures
from web4ai.api.auth import ANONYMOUS, bearer_key
from web4ai.api.context import CONTEXT
from web4ai.api.routing import declare
from web4ai.core.schemas import responses

routes = web.RouteTableDef()


@routes.get("/api/v1/whoami", name="whoami")
@declare(public=True, response=responses.WhoAmI)
async def whoami(request: web.Request) -> web.Response:
    """The caller's key: valid or not, its name and role (the dashboard's sign-in).
    Answers without a key too, with ``authenticated: false``."""
    ctx = request.app[CONTEXT]
    required = ctx.state.settings().api_key_required
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
