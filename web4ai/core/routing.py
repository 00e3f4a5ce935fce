"""Model-aware routing and affinity: the step before the configured algorithm picks.

Among the nodes that fit a task (``web4ai.core.scheduling``):

- a task with an ``affinity_key`` (a conversation id, say) goes to the key's node
  while that node fits and is within its bounded load: no node takes more than
  ``(1 + epsilon)`` times its fair share of the keyed tasks bound (consistent hashing
  with bounded loads, CHWBL: Mirrokni, Thorup and Zadimoghaddam, 2016). A key gets
  its node at its first task: the first node clockwise from the key's point on a
  consistent-hash ring that is within its bound, among the nodes with a free agent
  holding the task's model when there are any (a first turn warm, not a cold load on
  whatever node the hash names), else among all that fit. The scheduler remembers
  it (``homes``). Its node full or at its bound, the task waits a while for it, then
  goes elsewhere (the same way) this once; its node gone, the key gets a new one;
- any other task with a ``model`` goes to the nodes with a free agent that holds the
  model loaded now (warm), as Ray Serve's model multiplexing does. Counting free
  agents, a task bound to a node that holds its model on no agent is a cold load
  under way there, on a free agent of the node's choosing. Loaded only on busy
  agents, the task waits a while for one (delay scheduling); loaded on none, or
  after the wait, it takes a cold load where that swaps out the model missed least;
- the configured algorithm breaks the ties that are left.

An affinity key wins over warmth: the node of a conversation holds its prefix cache
and, after its first turn, its model. Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from web4ai.core.crs import AgentModelsBody, Body, TaskBody
from web4ai.core.limits import truncate
from web4ai.core.model import AgentModels, Node, Requirements, Task
from web4ai.core.ring import Ring

DEFAULT_EPSILON = 0.25
# A task whose model is loaded only on busy agents waits this long for one of them
# before it takes a cold load elsewhere, and a keyed task this long for its full node,
# counted from its first deferral (delay scheduling, Zaharia et al. 2010, where the
# wait starts when the job is first skipped: counted from submission, every task of a
# backlog would skip the wait): a warm task takes milliseconds, a load seconds.
WARM_WAIT = 1.0
SHOWN = 64  # characters of a model name or key quoted in a message


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


def loading(node: Node, busy: Mapping[tuple[str, str], int]) -> int:
    """The tasks bound to ``node`` beyond its agents holding their model: each takes a
    cold load on a free agent the node picks (any of them, as far as we know) until a
    heartbeat reports the swap."""
    return sum(
        max(0, count - warm_agents(node, model))
        for (node_id, model), count in busy.items()
        if node_id == node.node_id
    )


def warm_free(node: Node, model: str, busy: int, loads: int = 0) -> bool:
    """Whether the node has a free agent with ``model`` loaded: more agents hold it than
    tasks of that model are bound to the node, plus the ``loads`` under way there (which
    may take any free agent, that one too), and the node has a free slot."""
    return node.free_slots > 0 and warm_agents(node, model) > busy + loads


def eviction_cost(node: Node, routing: Routing) -> float:
    """What a cold load on ``node`` may cost the others: the node swaps the model of one
    of its free agents (which one is the node's choice), so the worst of those, where a
    model's worth is its demand (its tasks bound or waiting, plus one) per agent holding
    it. A node with an agent holding nothing costs nothing."""
    worst = 0.0
    for agent in node.agents:
        for model in agent.loaded:
            if warm_agents(node, model) <= routing.busy.get((node.node_id, model), 0):
                continue  # every agent of that model is busy: not the one swapped
            demand = routing.demand.get(model, 0) + 1
            worst = max(worst, demand / max(1, routing.warm.get(model, 1)))
    return worst


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
    # agents holding each model on the schedulable nodes (busy or not); the tasks of
    # each model bound or waiting (its demand); the schedulable nodes by id
    warm: dict[str, int] = field(default_factory=dict)
    demand: dict[str, int] = field(default_factory=dict)
    nodes: Mapping[str, Node] = field(default_factory=dict)
    # the scheduler's memory: when each task was first deferred (it waits up to
    # WARM_WAIT from then), and each affinity key's node
    now: float = float("-inf")
    since: Mapping[str, float] = field(default_factory=dict)
    homes: dict[str, str] = field(default_factory=dict)
    # False in a scheduler pass's first round: only warm placements (and a key's own
    # node); the rest waits for the second round
    cold: bool = True

    @property
    def keyed_total(self) -> int:
        return sum(self.keyed.values())

    def waited(self, task: Task) -> bool:
        """Whether ``task`` waited WARM_WAIT since it was first deferred."""
        return self.now - self.since.get(task.name, self.now) >= WARM_WAIT

    def place(self, node_id: str, req: Requirements) -> None:
        """One more task with these requirements bound to ``node_id``; a key without a
        node has it from now on."""
        model, key = req.model, req.affinity_key
        if model is not None:
            self.busy[(node_id, model)] = self.busy.get((node_id, model), 0) + 1
        if key is not None:
            self.keyed[node_id] = self.keyed.get(node_id, 0) + 1
            # a key without a node has this one; a used key goes last (the memory
            # forgets the oldest)
            self.homes[key] = self.homes.pop(key, node_id)


@dataclass(frozen=True)
class Routed:
    """The candidates left, and why (for the Scheduled condition; "" when routing did
    not narrow them). No candidates: the task waits a while (deferred)."""

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
        return by_affinity(task, req.affinity_key, pool, routing)
    if req.model is not None:
        return by_model(task, req.model, pool, routing)
    return Routed(pool)


def by_model(task: Task, model: str, pool: Sequence[Node], routing: Routing) -> Routed:
    """The nodes with a free agent holding ``model``; none: a wait of up to WARM_WAIT
    while an agent holds it (busy), then the nodes where a cold load costs least."""
    warm = [n for n in pool if _warm_free(n, model, routing)]
    if warm:
        return Routed(warm, f"model {_quote(model)} loaded on a free agent")
    if not routing.cold:
        return Routed([], "not warm: the second round")
    if routing.warm.get(model) and not routing.waited(task):
        return Routed([], f"waiting up to {WARM_WAIT:g} s for an agent holding {_quote(model)}")
    return Routed(
        cheapest(pool, routing), f"model {_quote(model)} loaded on no free agent: a cold load"
    )


def _warm_free(node: Node, model: str, routing: Routing) -> bool:
    busy = routing.busy.get((node.node_id, model), 0)
    return warm_free(node, model, busy, loading(node, routing.busy))


def cheapest(pool: Sequence[Node], routing: Routing) -> list[Node]:
    """The nodes of ``pool`` whose cold load costs the others least (eviction_cost)."""
    costs = {n.node_id: eviction_cost(n, routing) for n in pool}
    least = min(costs.values())
    return [n for n in pool if costs[n.node_id] <= least]


def by_affinity(task: Task, key: str, pool: Sequence[Node], routing: Routing) -> Routed:
    """The key's node while it fits and is within its bounded load. Full or at its
    bound, the task waits up to WARM_WAIT for it, then goes elsewhere this once; gone
    (or no longer serving the model), the key loses it. A key without a node (its
    first task) goes, as one that moves, to the first node clockwise from the key's
    point on the ring within its bounded load, among the nodes with a free agent
    holding the model when there are (its first turn warm; loaded on busy agents
    only, after a wait as ``by_model``), else among those where a load costs least."""
    model = task.requirements.model
    fits = {n.node_id: n for n in pool}
    home = routing.homes.get(key)
    why = f"affinity key {_quote(key)}: "
    if home is not None:
        node = fits.get(home) or routing.nodes.get(home)
        if node is None or (model is not None and model not in node.models):
            del routing.homes[key]  # gone: the key takes a new node
            why += f"its node {home} gone; "
        else:
            at = _over_bound(node, routing)
            if home in fits and at is None:
                return Routed([node], why + "its node")
            if not routing.cold or not routing.waited(task):
                return Routed([], why + f"waiting up to {WARM_WAIT:g} s for its node {home}")
            why += f"its node {home} {'does not fit' if at is None else at}; "
    candidates: Sequence[Node] = pool
    if model is not None:
        warm = [n for n in pool if _warm_free(n, model, routing)]
        if warm:
            candidates, why = warm, why + f"first on the ring with {_quote(model)} loaded"
        elif not routing.cold or (routing.warm.get(model) and not routing.waited(task)):
            return Routed(
                [], why + f"waiting up to {WARM_WAIT:g} s for an agent holding {_quote(model)}"
            )
        else:
            candidates, why = cheapest(pool, routing), why + "first on the ring for a cold load"
    else:
        why += "first on the ring"
    if not routing.cold and model is None:
        return Routed([], "the second round")
    for among in (candidates, pool) if routing.cold else (candidates,):
        ids = {n.node_id for n in among}
        for node_id in routing.ring.walk(key):
            node = fits.get(node_id)
            if node is not None and node_id in ids and _over_bound(node, routing) is None:
                return Routed([node], why)
    if not routing.cold or any(
        (model is None or model in n.models) and _over_bound(n, routing) is None
        for n in routing.nodes.values()
    ):  # a node that serves it is within its bound, full now: a wait for a slot there
        return Routed([], f"affinity key {_quote(key)}: every node that fits at its load bound")
    return Routed(pool, f"affinity key {_quote(key)}: every node at its load bound")


def _over_bound(node: Node, routing: Routing) -> str | None:
    bound = load_bound(node, routing.keyed_total, routing.capacity, routing.epsilon)
    if routing.keyed.get(node.node_id, 0) < bound:
        return None
    return f"at its load bound {bound}"


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
    *,
    waiting: Iterable[str | None] = (),
    since: Mapping[str, float] | None = None,
    homes: dict[str, str] | None = None,
) -> Routing:
    """A scheduler pass's routing: ``held`` are the bound (or assumed bound) tasks with
    their node (only their ``model`` and ``affinity_key`` are read), ``waiting`` the
    models of the pending tasks; ``since`` and ``homes`` the scheduler's memory."""
    warm: dict[str, int] = {}
    for agent in (a for n in schedulable for a in n.agents):
        for model in agent.loaded:
            warm[model] = warm.get(model, 0) + 1
    return routing_with(
        Routing(
            ring,
            sum(n.capacity for n in schedulable),
            epsilon=epsilon,
            warm=warm,
            nodes={n.node_id: n for n in schedulable},
            now=now,
            since={} if since is None else since,
            homes={} if homes is None else homes,
        ),
        held,
        waiting,
    )


def routing_with(
    routing: Routing,
    held: Iterable[tuple[str | None, TaskBody | Body | None]],
    waiting: Iterable[str | None] = (),
) -> Routing:
    """``routing`` (its ring, nodes, capacity and warm agents given) with what ``held``
    hold per node and the demand of the held and ``waiting`` tasks' models."""
    routing.busy, routing.keyed = bound_load(
        (node, *routing_requirements(body)) for node, body in held if body is not None
    )
    demand: dict[str, int] = {}
    for (_, bound_model), count in routing.busy.items():
        demand[bound_model] = demand.get(bound_model, 0) + count
    for wanted in waiting:
        if wanted is not None:
            demand[wanted] = demand.get(wanted, 0) + 1
    routing.demand = demand
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
