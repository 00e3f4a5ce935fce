"""Which node runs a task: the filters of DESIGN.md and the five algorithms.

Everything here is pure and deterministic; the scheduler loop feeds it a
snapshot and keeps the balancer between decisions.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from web4ai.core.limits import EXPLANATION_MAX, summarise, truncate
from web4ai.core.model import Algorithm, Node, NodeStatus, Task, Thresholds
from web4ai.core.recommending import underloaded
from web4ai.core.routing import Routing, model_unserved, route

SCHEDULABLE = (NodeStatus.ACTIVE, NodeStatus.DEGRADED)


# -- filters ---------------------------------------------------------------


def unfit_reason(task: Task, node: Node, thresholds: Thresholds) -> str | None:
    """Why ``node`` cannot take ``task`` now, or None when it fits."""
    req = task.requirements
    if node.status not in SCHEDULABLE:
        return f"node is {node.status.value}"
    if node.node_id in req.exclude_nodes:
        return "excluded by the task"
    if req.model is not None and req.model not in node.models:
        return "model not served"
    if node.free_slots <= 0:
        return "at capacity"
    missing = req.capabilities - node.capabilities
    if missing:
        return missing_reason(missing)
    # at or above the threshold; a threshold of 100 turns the check off (a saturated
    # machine reads 100 %, and 100 says "never hold a node back for its load")
    if thresholds.cpu < 100 and node.cpu_usage >= thresholds.cpu:
        return "over the cpu threshold"
    if thresholds.memory < 100 and node.memory_usage >= thresholds.memory:
        return "over the memory threshold"
    if 100.0 - node.cpu_usage < req.min_cpu:
        return "not enough free cpu"
    if req.min_memory > 0:
        free = node.free_memory_mb
        if free is None:
            return "memory size not reported"
        if free < req.min_memory:
            return "not enough free memory"
    return None


@functools.lru_cache(maxsize=1024)
def missing_reason(missing: frozenset[str]) -> str:
    """The reason for capabilities a node lacks, made once per set: a pass over 10,000
    nodes that lack the same ones would otherwise sort and join them 10,000 times."""
    if len(missing) <= 3:
        return "missing capabilities " + ",".join(sorted(missing))
    return "missing " + summarise("capabilities", missing)


def unschedulable_message(total: int, reasons: Sequence[str]) -> str:
    """Like kube-scheduler: ``0/5 nodes fit: 3 at capacity, 2 node is offline``."""
    if total == 0:
        return "0/0 nodes fit: no nodes registered"
    counts = Counter(reasons)
    parts = [
        f"{n} {reason}" for reason, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    return truncate(f"0/{total} nodes fit: " + ", ".join(parts), EXPLANATION_MAX)


def only_capacity(message: str) -> bool:
    """Whether every node that does not fit is merely full (``0/3 nodes fit: 3 at capacity``):
    such a task is queued for a free slot, not unschedulable."""
    _, _, reasons = message.partition(": ")
    return all(part.split(" ", 1)[-1] == "at capacity" for part in reasons.split(", ") if part)


# -- algorithms ------------------------------------------------------------


class Balancer(Protocol):
    """Picks one node among candidates that all fit. ``candidates`` is never empty."""

    def pick(self, candidates: Sequence[Node]) -> Node: ...


@dataclass
class RoundRobin:
    """Next node id after the last one picked, in id order."""

    last: str | None = None

    def pick(self, candidates: Sequence[Node]) -> Node:
        ordered = sorted(candidates, key=lambda n: n.node_id)
        chosen = next(
            (n for n in ordered if self.last is None or n.node_id > self.last), ordered[0]
        )
        self.last = chosen.node_id
        return chosen


def wrr_weight(node: Node) -> int:
    """Weight from load and reliability: 1..100, higher for idle, reliable nodes."""
    idle = 1.0 - min(max(node.load_score, 0.0), 1.0)
    return max(1, round(100 * idle * min(max(node.reliability, 0.0), 1.0)))


@dataclass
class SmoothWeightedRoundRobin:
    """nginx's smooth weighted round robin: deterministic, evenly interleaved."""

    current: dict[str, int] = field(default_factory=dict)

    def pick(self, candidates: Sequence[Node]) -> Node:
        total = 0
        best: Node | None = None
        for node in sorted(candidates, key=lambda n: n.node_id):
            weight = wrr_weight(node)
            total += weight
            self.current[node.node_id] = self.current.get(node.node_id, 0) + weight
            if best is None or self.current[node.node_id] > self.current[best.node_id]:
                best = node
        assert best is not None
        self.current[best.node_id] -= total
        return best


@dataclass
class LeastConnections:
    def pick(self, candidates: Sequence[Node]) -> Node:
        return min(candidates, key=lambda n: (n.running, -n.free_slots, n.load_score, n.node_id))


def free_resources(node: Node) -> float:
    return (100.0 - node.cpu_usage) + (100.0 - node.memory_usage) + (100.0 - node.gpu_usage)


@dataclass
class ResourceAware:
    def pick(self, candidates: Sequence[Node]) -> Node:
        return min(candidates, key=lambda n: (-free_resources(n), n.running, n.node_id))


@dataclass
class LatencyOptimized:
    def pick(self, candidates: Sequence[Node]) -> Node:
        def latency(n: Node) -> float:
            return n.network_latency if n.network_latency is not None else float("inf")

        return min(candidates, key=lambda n: (latency(n), n.running, n.node_id))


BALANCERS: dict[Algorithm, Callable[[], Balancer]] = {
    Algorithm.ROUND_ROBIN: RoundRobin,
    Algorithm.WEIGHTED_ROUND_ROBIN: SmoothWeightedRoundRobin,
    Algorithm.LEAST_CONNECTIONS: LeastConnections,
    Algorithm.RESOURCE_AWARE: ResourceAware,
    Algorithm.LATENCY_OPTIMIZED: LatencyOptimized,
}


# -- the decision ----------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    node_id: str | None
    message: str = ""
    deferred: bool = False  # none now: waiting a while for a warm agent (routing)


def pick_node(
    task: Task,
    nodes: Sequence[Node],
    thresholds: Thresholds,
    balancer: Balancer,
    *,
    optimize: bool = False,
    routing: Routing | None = None,
) -> Decision:
    """Pick a node for ``task``:

    1. keep the nodes that fit (status, exclusions, capacity, capabilities,
       thresholds, free cpu and memory);
    2. prefer ``active`` nodes; ``degraded`` ones only when no active one fits;
    3. among those, the task's preferred nodes win when any fits;
    4. a retried task goes to a node it has not run on, else to one other than
       its last, when one fits;
    5. with ``optimize`` (performance.optimization_enabled), underloaded nodes
       (under half of both thresholds) win when any is left;
    6. with ``routing``, an affinity key keeps its node on a consistent-hash ring
       within bounded loads, else a model prefers the nodes with a free agent that
       holds it loaded (``web4ai.core.routing``);
    7. the balancer picks among what is left.

    A decision's message says why a node won, or why none fits.
    """
    fits: list[Node] = []
    reasons: list[str] = []
    for node in nodes:
        reason = unfit_reason(task, node, thresholds)
        if reason is None:
            fits.append(node)
        else:
            reasons.append(reason)
    if not fits:
        message = unschedulable_message(len(nodes), reasons)
        schedulable = [n for n in nodes if n.status in SCHEDULABLE]
        unserved = model_unserved(task, schedulable)
        if unserved is not None:
            message = truncate(f"{unserved} ({message})", EXPLANATION_MAX)
        return Decision(None, message)
    return decide(task, fits, thresholds, balancer, optimize=optimize, routing=routing)


def decide(
    task: Task,
    fits: Sequence[Node],
    thresholds: Thresholds,
    balancer: Balancer,
    *,
    optimize: bool = False,
    routing: Routing | None = None,
) -> Decision:
    """Steps 2 to 7 of ``pick_node`` among ``fits``, the nodes that fit (never empty)."""
    pool = [n for n in fits if n.status is NodeStatus.ACTIVE] or fits
    preferred = set(task.requirements.preferred_nodes)
    pool = [n for n in pool if n.node_id in preferred] or pool
    if task.previous_nodes:
        tried, last = set(task.previous_nodes), task.previous_nodes[-1]
        pool = (
            [n for n in pool if n.node_id not in tried]
            or [n for n in pool if n.node_id != last]
            or pool
        )
    if optimize:
        pool = [n for n in pool if underloaded(n, thresholds)] or pool
    if routing is None:
        return Decision(balancer.pick(pool).node_id)
    routed = route(task, pool, routing)
    if not routed.pool:
        return Decision(None, routed.why, deferred=True)
    return Decision(balancer.pick(routed.pool).node_id, routed.why)
