"""The scheduler's nodes kept up to date one node at a time, and a pick that looks
only at the nodes that could take the task (kube-scheduler's and Kueue's in-memory
cache, in small).

``NodeIndex`` holds each node's view (``Node``: its bound count included), the open
nodes (schedulable, with a free slot) by each capability and each model they serve,
and what a pass reads of every node: the schedulable ones, their capacity, the agents
holding each model loaded, the overloaded ones. ``put`` and ``drop`` change one node
at the cost of its own capabilities, models and agents, so that a pass costs what its
tasks' candidates cost, not what every node does.

``pick_open`` decides as ``pick_node`` over every node does (the same node, the same
message), from the open nodes that have the task's rarest need. A pass's decisions
count against their nodes in a ``Views`` over the index, never in the index itself.
Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Set
from dataclasses import dataclass, field

from web4ai.core.model import Node, Requirements, Task, Thresholds
from web4ai.core.recommending import overloaded
from web4ai.core.ring import Ring
from web4ai.core.routing import Routing
from web4ai.core.scheduling import SCHEDULABLE, Balancer, Decision, decide, pick_node, unfit_reason

NONE: frozenset[str] = frozenset()


def _add(index: dict[str, set[str]], keys: Collection[str], node_id: str) -> None:
    for key in keys:
        index.setdefault(key, set()).add(node_id)


def _remove(index: dict[str, set[str]], keys: Collection[str], node_id: str) -> None:
    for key in keys:
        ids = index.get(key)
        if ids is not None:
            ids.discard(node_id)
            if not ids:
                del index[key]


@dataclass
class NodeIndex:
    """Every node's view by id, and the indexes a pass reads."""

    views: dict[str, Node] = field(default_factory=dict)
    open: set[str] = field(default_factory=set)  # schedulable with a free slot
    by_capability: dict[str, set[str]] = field(default_factory=dict)  # of the open nodes
    by_model: dict[str, set[str]] = field(default_factory=dict)  # of the open nodes
    schedulable: set[str] = field(default_factory=set)  # active or degraded
    capacity: int = 0  # of the schedulable nodes
    warm: dict[str, int] = field(default_factory=dict)  # their agents holding each model
    members: int = 0  # +1 whenever a node id comes or goes (the routing ring's key)
    # the overloaded schedulable nodes under ``_hot_for`` (kept once asked for)
    _hot: set[str] = field(default_factory=set)
    _hot_for: Thresholds | None = None

    def __len__(self) -> int:
        return len(self.views)

    def put(self, view: Node) -> None:
        """The node's new view (a new node, or one whose object or count changed)."""
        old = self.views.get(view.node_id)
        if old is view:
            return
        if old is None:
            self.members += 1
        else:
            self._unindex(old)
        self.views[view.node_id] = view
        self._index(view)

    def drop(self, node_id: str) -> None:
        """The node is gone (deleted, or being deleted)."""
        old = self.views.pop(node_id, None)
        if old is not None:
            self.members += 1
            self._unindex(old)

    def _index(self, view: Node) -> None:
        if view.status not in SCHEDULABLE:
            return
        node_id = view.node_id
        self.schedulable.add(node_id)
        self.capacity += view.capacity
        for agent in view.agents:
            for model in agent.loaded:
                self.warm[model] = self.warm.get(model, 0) + 1
        if self._hot_for is not None and overloaded(view, self._hot_for):
            self._hot.add(node_id)
        if view.free_slots > 0:
            self.open.add(node_id)
            _add(self.by_capability, view.capabilities, node_id)
            _add(self.by_model, view.models, node_id)

    def _unindex(self, view: Node) -> None:
        node_id = view.node_id
        if node_id not in self.schedulable:
            return
        self.schedulable.discard(node_id)
        self.capacity -= view.capacity
        for agent in view.agents:
            for model in agent.loaded:
                self.warm[model] -= 1
                if not self.warm[model]:
                    del self.warm[model]
        self._hot.discard(node_id)
        if node_id in self.open:
            self.open.discard(node_id)
            _remove(self.by_capability, view.capabilities, node_id)
            _remove(self.by_model, view.models, node_id)

    def any_overloaded(self, thresholds: Thresholds) -> bool:
        """Whether a schedulable node is over the thresholds (``load_rebalancing``)."""
        if thresholds != self._hot_for:
            self._hot_for = thresholds
            self._hot = {i for i in self.schedulable if overloaded(self.views[i], thresholds)}
        return bool(self._hot)

    def candidates(self, req: Requirements) -> Set[str]:
        """The open nodes with the rarest of what ``req`` needs (a capability, its
        model), else every open node: a superset of the nodes that fit."""
        sets: list[Set[str]] = [self.by_capability.get(c, NONE) for c in req.capabilities]
        if req.model is not None:
            sets.append(self.by_model.get(req.model, NONE))
        return min(sets, key=len) if sets else self.open


class Views(Mapping[str, Node]):
    """The views of ``keys`` (every node of the index by default) with a pass's own
    changes over them: the tasks it assumed or decided count against their nodes."""

    def __init__(
        self,
        index: NodeIndex,
        changed: Mapping[str, Node] | None = None,
        keys: Collection[str] | None = None,
    ) -> None:
        self.index = index
        self.changed: dict[str, Node] = dict(changed or {})
        self.keys_: Collection[str] = index.views if keys is None else keys

    def __getitem__(self, node_id: str) -> Node:
        if node_id not in self.keys_:
            raise KeyError(node_id)
        view = self.changed.get(node_id)
        return self.index.views[node_id] if view is None else view

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys_)

    def __len__(self) -> int:
        return len(self.keys_)


def pick_open(
    task: Task,
    index: NodeIndex,
    views: Mapping[str, Node],
    thresholds: Thresholds,
    balancer: Balancer,
    *,
    optimize: bool = False,
    routing: Routing | None = None,
    explain: bool = False,
) -> Decision:
    """``pick_node(task, list(views.values()), ...)`` from the index's candidates:
    ``views`` are every node of ``index`` as the pass sees them (the index's views or
    fuller: a node full in the index is no candidate). When nothing fits, the message
    (a look at every node) only with ``explain``."""
    fits = [
        n
        for n in (views[i] for i in index.candidates(task.requirements))
        if unfit_reason(task, n, thresholds) is None
    ]
    if fits:
        return decide(task, fits, thresholds, balancer, optimize=optimize, routing=routing)
    if explain:
        return pick_node(task, list(views.values()), thresholds, balancer)
    return Decision(None)


def index_routing(
    up: Views,
    ring: Ring,
    epsilon: float,
    now: float,
    memory: tuple[Mapping[str, float], dict[str, str]],
) -> Routing:
    """A pass's routing over ``up``, the schedulable nodes of an index as the pass sees
    them (``Views(index, changed, index.schedulable)``), before ``routing_with`` adds
    the held tasks: as ``routing_of``'s, with the capacity and warm agents the index
    keeps per node, not summed over every node. ``memory``: ``since`` and ``homes``."""
    since, homes = memory
    return Routing(
        ring,
        up.index.capacity,
        epsilon=epsilon,
        warm=dict(up.index.warm),
        nodes=up,
        now=now,
        since=since,
        homes=homes,
    )
