"""Model-aware routing and affinity: the step before the configured algorithm picks.

Among the nodes that fit a task (``web4ai.core.scheduling``):

- a task with an ``affinity_key`` (a conversation id, say) goes to the first node
  clockwise from the key's point on a consistent-hash ring that fits and is within
  its bounded load: no node takes more than ``(1 + epsilon)`` times its fair share
  of the tasks running (consistent hashing with bounded loads, CHWBL: Mirrokni,
  Thorup and Zadimoghaddam, 2016). The same key keeps its node while it fits and is
  not over its bound; when the node is full, over its bound or gone, the key moves
  to the next node on the ring, and only that key moves;
- any other task with a ``model`` prefers the nodes with a free agent that holds
  the model loaded now (warm), as Ray Serve's model multiplexing does;
- the configured algorithm breaks the ties that are left.

An affinity key wins over warmth: the node of a conversation holds its prefix cache
and, after its first turn, its model. Pure: no I/O.
"""

from __future__ import annotations

import bisect
import hashlib
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from web4ai.core.crs import AgentModelsBody, Body, TaskBody
from web4ai.core.limits import truncate
from web4ai.core.model import AgentModels, Node, Requirements, Task

VIRTUAL_NODES = 64  # points per node on the ring: loads within a few % of even
DEFAULT_EPSILON = 0.25
# A task whose model is loaded only on busy agents waits this long (from submission)
# for one of them before it takes a cold load elsewhere (delay scheduling, Zaharia et
# al. 2010): a warm task takes milliseconds, a load seconds to minutes.
WARM_WAIT = 1.0
SHOWN = 64  # characters of a model name or key quoted in a message


def point(text: str) -> int:
    """A 64-bit point on the ring (blake2b: stable across processes and versions)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


@dataclass(frozen=True)
class Ring:
    """A consistent-hash ring of node ids, ``VIRTUAL_NODES`` points each."""

    points: tuple[int, ...] = ()
    owners: tuple[str, ...] = ()
    nodes: frozenset[str] = frozenset()

    @classmethod
    def of(cls, node_ids: frozenset[str], virtual: int = VIRTUAL_NODES) -> Ring:
        ring = sorted((point(f"{n}#{i}"), n) for n in node_ids for i in range(virtual))
        return cls(tuple(p for p, _ in ring), tuple(n for _, n in ring), frozenset(node_ids))

    def walk(self, key: str) -> Iterator[str]:
        """Each node once, clockwise from the key's point."""
        if not self.points:
            return
        start = bisect.bisect(self.points, point(key))
        seen: set[str] = set()
        size = len(self.points)
        for i in range(size):
            owner = self.owners[(start + i) % size]
            if owner not in seen:
                seen.add(owner)
                yield owner
                if len(seen) == len(self.nodes):
                    return


def agents_now(
    registered: Sequence[AgentModelsBody], reported: Sequence[AgentModelsBody]
) -> list[AgentModelsBody]:
    """The registered agents (``spec.agents``), each with what the latest heartbeat
    reported of it (``status.agents``) in place of its registration's, then the agents
    only a heartbeat named."""
    latest = {a["agentId"]: a for a in reported}
    out = [a | latest.pop(a["agentId"], a) for a in registered]
    return [*out, *latest.values()]


def agent_models(
    registered: Sequence[AgentModelsBody], reported: Sequence[AgentModelsBody]
) -> tuple[AgentModels, ...]:
    """Each agent's models now, for the scheduler."""
    return tuple(
        AgentModels(
            a["agentId"],
            frozenset(a.get("specializedModels") or ()),
            frozenset(a.get("loadedModels") or ()),
        )
        for a in agents_now(registered, reported)
    )


def load_bound(node: Node, running: int, capacity: int, epsilon: float) -> int:
    """The most keyed tasks ``node`` may hold for one more to land on it: ``(1 + epsilon)``
    times its share (by capacity) of the ``running`` keyed tasks plus the one placed."""
    if capacity <= 0:
        return node.capacity
    return math.ceil((1.0 + epsilon) * (running + 1) * node.capacity / capacity)


def warm_agents(node: Node, model: str) -> int:
    """How many of the node's agents hold ``model`` loaded now."""
    return sum(1 for a in node.agents if model in a.loaded)


def warm_free(node: Node, model: str, busy: int) -> bool:
    """Whether the node has a free agent with ``model`` loaded: more agents hold it
    than tasks of that model are bound to the node, and the node has a free slot."""
    return node.free_slots > 0 and warm_agents(node, model) > busy


@dataclass
class Routing:
    """What routing needs beyond the candidates: the ring over every known node; the
    tasks with an affinity key bound to each node (the load CHWBL balances: the other
    tasks are the algorithm's to spread, and every node's capacity caps them all) and
    the capacity of the schedulable nodes, for the load bound; the bound tasks per
    (node id, model); epsilon. A pass of the scheduler ``place``s each decision, so
    that the next one sees it."""

    ring: Ring = field(default_factory=Ring)
    capacity: int = 0
    keyed: dict[str, int] = field(default_factory=dict)
    busy: dict[tuple[str, str], int] = field(default_factory=dict)
    epsilon: float = DEFAULT_EPSILON
    # agents holding each model on the schedulable nodes (busy or not), and the time:
    # a task waits up to WARM_WAIT after its submission for one of them to be free
    warm: dict[str, int] = field(default_factory=dict)
    now: float = float("-inf")

    @property
    def keyed_total(self) -> int:
        return sum(self.keyed.values())

    def place(self, node_id: str, req: Requirements) -> None:
        """One more task with these requirements bound to ``node_id``."""
        model, key = req.model, req.affinity_key
        if model is not None:
            self.busy[(node_id, model)] = self.busy.get((node_id, model), 0) + 1
        if key is not None:
            self.keyed[node_id] = self.keyed.get(node_id, 0) + 1


@dataclass(frozen=True)
class Routed:
    """The candidates left, and why (for the Scheduled condition; "" when routing did
    not narrow them)."""

    pool: Sequence[Node]
    why: str = ""


def _quote(text: str) -> str:
    return truncate(text, SHOWN)


def route(task: Task, pool: Sequence[Node], routing: Routing) -> Routed:
    """Narrow ``pool`` (never empty, every node fits) for ``task``."""
    req = task.requirements
    if not pool:
        return Routed(pool)
    if req.affinity_key is not None:
        return by_affinity(req.affinity_key, pool, routing)
    if req.model is not None:
        model, busy = req.model, routing.busy
        warm = [n for n in pool if warm_free(n, model, busy.get((n.node_id, model), 0))]
        if warm:
            return Routed(warm, f"model {_quote(model)} loaded on a free agent")
        if routing.warm.get(model) and routing.now - task.submitted_at < WARM_WAIT:
            return Routed([], f"waiting up to {WARM_WAIT:g} s for an agent holding {_quote(model)}")
        return Routed(pool, f"model {_quote(model)} loaded on no free agent: a cold load")
    return Routed(pool)


def by_affinity(key: str, pool: Sequence[Node], routing: Routing) -> Routed:
    """The first node on the ring from ``key`` that is in ``pool`` and within its
    bounded load; the pool as it is when no node on the ring is (a node not yet on
    the ring)."""
    fits = {n.node_id: n for n in pool}
    total = routing.keyed_total
    skipped: list[str] = []  # the first few nodes passed over, and why
    for passed, node_id in enumerate(routing.ring.walk(key)):
        node = fits.get(node_id)
        bound = 0
        if node is not None:
            bound = load_bound(node, total, routing.capacity, routing.epsilon)
            if routing.keyed.get(node_id, 0) < bound:
                why = f"affinity key {_quote(key)}: its node"
                if passed:
                    more = "; ..." if passed > len(skipped) else ""
                    shown = "; ".join(skipped) + more
                    why = f"affinity key {_quote(key)}: moved past {passed} ({shown})"
                return Routed([node], why)
        if len(skipped) < 3:
            skipped.append(
                f"{node_id} {'does not fit' if node is None else f'at its load bound {bound}'}"
            )
    return Routed(pool, f"affinity key {_quote(key)}: every node at its load bound")


def model_unserved(task: Task, schedulable: Sequence[Node]) -> str | None:
    """``model m not served by any active node`` when no schedulable node serves the
    task's model, else None."""
    model = task.requirements.model
    if model is None or any(model in n.models for n in schedulable):
        return None
    return f"model {_quote(model)} not served by any active node"


def routing_of(
    ring: Ring,
    schedulable: Sequence[Node],
    held: Iterable[tuple[str | None, TaskBody | Body | None]],
    epsilon: float,
    now: float,
) -> Routing:
    """A scheduler pass's routing: ``held`` are the bound (or assumed bound) tasks with
    their node; only their ``model`` and ``affinity_key`` are read."""
    warm: dict[str, int] = {}
    for agent in (a for n in schedulable for a in n.agents):
        for model in agent.loaded:
            warm[model] = warm.get(model, 0) + 1
    capacity = sum(n.capacity for n in schedulable)
    routing = Routing(ring, capacity, epsilon=epsilon, warm=warm, now=now)
    routing.busy, routing.keyed = bound_load(
        (node, *routing_requirements(body)) for node, body in held if body is not None
    )
    return routing


def routing_requirements(body: TaskBody | Body) -> tuple[str | None, str | None]:
    """A task's ``model`` and ``affinity_key``, read off its body without parsing it."""
    req = body["spec"].get("requirements") or {}
    return req.get("model"), req.get("affinityKey")


def bound_load(
    bound: Iterable[tuple[str | None, str | None, str | None]],
) -> tuple[dict[tuple[str, str], int], dict[str, int]]:
    """From ``(node id, model, affinity key)`` of the bound tasks: how many tasks of
    each model each node holds, and how many with an affinity key."""
    busy: dict[tuple[str, str], int] = {}
    keyed: dict[str, int] = {}
    for node_id, model, key in bound:
        if node_id is None:
            continue
        if model is not None:
            busy[(node_id, model)] = busy.get((node_id, model), 0) + 1
        if key is not None:
            keyed[node_id] = keyed.get(node_id, 0) + 1
    return busy, keyed
