"""The inputs of a scheduler pass's routing (``web4ai.core.routing``), from the cache,
and the scheduler's routing memory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from web4ai.core import bodies
from web4ai.core.assuming import Assumed
from web4ai.core.crs import Body, TaskBody
from web4ai.core.model import Task, TaskPhase
from web4ai.core.nodeindex import Views, index_routing
from web4ai.core.ring import Ring
from web4ai.core.routing import Routing, routing_with
from web4ai.k8s.cache import ClusterState

BOUND = (TaskPhase.ASSIGNED, TaskPhase.RUNNING)
MAX_HOMES = 100_000  # affinity keys remembered; the oldest go first (they take a new node)


@dataclass
class RoutingMemory:
    """What routing remembers between passes: when each pending task was first
    deferred (for a warm agent or its key's node), and each affinity key's node. Lost
    on a restart or a new leader: a key then takes a node again, by warmth and the ring."""

    since: dict[str, float] = field(default_factory=dict)
    homes: dict[str, str] = field(default_factory=dict)

    def deferred(self, name: str, now: float) -> None:
        self.since.setdefault(name, now)

    def decided(self, name: str) -> None:
        self.since.pop(name, None)

    def prune(self, pending: list[Task]) -> None:
        """Keep the deferrals of the pending tasks only, and MAX_HOMES keys."""
        if len(self.since) > 2 * len(pending) + 100:
            names = {t.name for t in pending}
            self.since = {n: t for n, t in self.since.items() if n in names}
        while len(self.homes) > MAX_HOMES:
            del self.homes[next(iter(self.homes))]


def pass_routing(
    ring: Ring,
    state: ClusterState,
    assumed: Assumed,
    up: Views,
    pending: list[Task],
    now: float,
    memory: RoutingMemory,
) -> Routing:
    """The routing of a pass over ``up``, the schedulable nodes as it starts (their
    capacity and warm agents kept by the node index): when a pending task names a
    model or an affinity key, what the bound and assumed tasks hold, per node."""
    held: list[tuple[str | None, TaskBody | Body | None]] = []
    if any(t.requirements.routed for t in pending):
        store = state.tasks.store
        held = [(bodies.task_node(b), b) for b in state.tasks_with(*BOUND)]
        held += [(a.node_id, store.get(n)) for n, a in assumed.entries.items()]
    memory.prune(pending)
    epsilon = state.settings().affinity_epsilon
    routing = index_routing(up, ring, epsilon, now, (memory.since, memory.homes))
    return routing_with(routing, held, (t.requirements.model for t in pending))


def in_rounds(
    pending: list[TaskBody],
    routing: Routing | None,
    task_of: Callable[[TaskBody], Task],
    assumed: Assumed,
) -> Iterator[tuple[TaskBody, bool]]:
    """The pending tasks in order, with whether the round is the first: with routing,
    first the tasks that name a model or a key, for warm placements only (and a key's
    own node), then every task not decided (assumed) meanwhile, for any placement."""
    if routing is not None:
        routing.cold = False
        for body in pending:
            if task_of(body).requirements.routed:
                yield body, True
        routing.cold = True
    for body in pending:
        if bodies.name_of(body) not in assumed.entries:
            yield body, False
