"""The singleton Web4AIOrchestrator: it holds the settings (its spec) and carries the
operator's daemon, so the API and the operator both make sure it exists at start."""

from __future__ import annotations

from web4ai.core.bodies import ORCHESTRATOR_NAME
from web4ai.core.objects import orchestrator_object
from web4ai.core.resources import ORCHESTRATORS
from web4ai.k8s.cache import ClusterState
from web4ai.k8s.errors import Conflict
from web4ai.k8s.writing import Writer


async def ensure_orchestrator(writer: Writer, state: ClusterState) -> None:
    """Create the orchestrator with every setting at its default when it is missing
    (someone else creating it first is fine), and put it into ``state``. Raises what the
    API server answers otherwise (e.g. a 403 where RBAC allows no create)."""
    if ORCHESTRATOR_NAME in state.orchestrators.store:
        return
    found = await writer.get(ORCHESTRATORS, ORCHESTRATOR_NAME)
    if found is None:
        try:
            found = await writer.create(ORCHESTRATORS, orchestrator_object())
        except Conflict:
            found = await writer.read(ORCHESTRATORS, ORCHESTRATOR_NAME)
    state.record_orchestrator(found)
