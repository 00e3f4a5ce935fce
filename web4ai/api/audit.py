"""Kubernetes Events on the orchestrator object for every create, use and revoke of a
key or join token, naming who did it (the id of the key that asked, or the token a node
joined with). Messages carry ids, roles and addresses: never a key or a token."""

from __future__ import annotations

import logging

from web4ai.api.auth import PRINCIPAL_KEY, Principal
from web4ai.api.context import ApiContext
from web4ai.core.bodies import ORCHESTRATOR_NAME
from web4ai.core.crs import AnyBody
from web4ai.core.resources import ORCHESTRATORS

log = logging.getLogger(__name__)

COMPONENT = "web4ai-api"


def actor(principal: Principal | None) -> str:
    """Who is asking, as Events and ``created_by`` name them."""
    return principal.name if principal is not None else "anonymous"


def actor_of(request: object) -> str:
    get = getattr(request, "get", None)
    return actor(get(PRINCIPAL_KEY) if get is not None else None)


async def audit(ctx: ApiContext, reason: str, message: str, *, warning: bool = False) -> None:
    """An Event on the orchestrator object (logged too); best effort, as every Event."""
    log.info("%s: %s", reason, message)
    orch: AnyBody | None = ctx.state.orchestrator()
    if orch is None:
        orch = await ctx.writer.get(ORCHESTRATORS, ORCHESTRATOR_NAME)
    if orch is None:
        log.warning("no orchestrator object to record %s on", reason)
        return
    await ctx.writer.event(orch, reason, message, warning=warning, component=COMPONENT)
