"""The inputs of a scheduler pass's routing (``web4ai.core.routing``), from the cache."""

from __future__ import annotations

from web4ai.core import bodies
from web4ai.core.assuming import Assumed
from web4ai.core.crs import Body, TaskBody
from web4ai.core.model import Node, Task, TaskPhase
from web4ai.core.routing import Ring, Routing, routing_of
from web4ai.core.scheduling import SCHEDULABLE
from web4ai.k8s.cache import ClusterState

BOUND = (TaskPhase.ASSIGNED, TaskPhase.RUNNING)


def pass_routing(
    ring: Ring,
    state: ClusterState,
    assumed: Assumed,
    views: dict[str, Node],
    pending: list[Task],
    now: float,
) -> tuple[Ring, Routing]:
    """The ring (remade when the nodes changed) and the routing of a pass: when a
    pending task names a model or an affinity key, what the bound and assumed tasks
    hold, per node."""
    if ring.nodes != views.keys():
        ring = Ring.of(frozenset(views))
    held: list[tuple[str | None, TaskBody | Body | None]] = []
    if any(t.requirements.routed for t in pending):
        store = state.tasks.store
        held = [(bodies.task_node(b), b) for b in state.tasks_with(*BOUND)]
        held += [(a.node_id, store.get(n)) for n, a in assumed.entries.items()]
    up = [v for v in views.values() if v.status in SCHEDULABLE]
    return ring, routing_of(ring, up, held, state.settings().affinity_epsilon, now)
