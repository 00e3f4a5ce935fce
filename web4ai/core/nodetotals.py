"""The network's node numbers (by status, agents, the live nodes' capacity and mean
load), kept as the nodes change: each node's share is taken out and put back when it
changes, so reading them costs nothing however many nodes there are.

A scan of every node each time they were read (the metrics history samples every
5 s, and a node's status changes many times a second at 10,000 nodes) was 5 % of the
API's CPU at 10,000 nodes heartbeating.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from web4ai.core import bodies
from web4ai.core.crs import NodeBody
from web4ai.core.defaults import NODE_SPEC_DEFAULTS as NODE

LIVE = ("active", "degraded")  # the statuses whose load counts in the means


@dataclass(frozen=True)
class Share:
    """What one node adds to the totals."""

    node_id: str
    status: str
    agents: int
    capacity: int = 0  # the live nodes' only, as are the rest
    cpu: float = 0.0
    memory: float = 0.0
    load: float = 0.0
    latency: float | None = None

    @property
    def live(self) -> bool:
        return self.status in LIVE


def share_of(body: NodeBody) -> Share | None:
    """The node's share; None for a node being deleted (it no longer counts)."""
    if body["metadata"].get("deletionTimestamp"):
        return None
    spec, st = body["spec"], bodies.status_of(body)
    status = st.get("status", "offline")
    agents = int(spec.get("agentsCount", NODE["agentsCount"]))
    if status not in LIVE:
        return Share(spec["nodeId"], status, agents)
    latency = st.get("networkLatency")
    return Share(
        spec["nodeId"],
        status,
        agents,
        bodies.node_capacity(body),
        float(st.get("cpuUsage", 0)),
        float(st.get("memoryUsage", 0)),
        float(st.get("loadScore", 0)),
        None if latency is None else float(latency),
    )


@dataclass
class NodeTotals:
    """The totals over every node's ``Share``, by node name."""

    by_status: Counter[str] = field(default_factory=Counter)
    agents_by_node: dict[str, int] = field(default_factory=dict)
    live: int = 0
    capacity: int = 0
    cpu: float = 0.0
    memory: float = 0.0
    load: float = 0.0
    latency: float = 0.0
    latencies: int = 0
    _shares: dict[str, Share] = field(default_factory=dict)

    def changed(self, body: NodeBody) -> None:
        """The node as it is now (added, changed, or marked for deletion)."""
        name = bodies.name_of(body)
        share, old = share_of(body), self._shares.get(name)
        if share == old:
            return
        if old is not None:
            self._count(old, -1)
        if share is None:
            self._forget(name)
        else:
            self._shares[name] = share
            self.agents_by_node[share.node_id] = share.agents  # in place: a stable order
            self._count(share, +1)

    def deleted(self, body: NodeBody) -> None:
        name = bodies.name_of(body)
        old = self._shares.get(name)
        if old is not None:
            self._count(old, -1)
            self._forget(name)

    def _forget(self, name: str) -> None:
        old = self._shares.pop(name)
        self.agents_by_node.pop(old.node_id, None)

    def _count(self, s: Share, sign: int) -> None:
        self.by_status[s.status] += sign
        if not self.by_status[s.status]:
            del self.by_status[s.status]
        if s.live:
            self.live += sign
            self.capacity += sign * s.capacity
            self.cpu += sign * s.cpu
            self.memory += sign * s.memory
            self.load += sign * s.load
            if s.latency is not None:
                self.latency += sign * s.latency
                self.latencies += sign
        if not self.live:  # no float residue once nothing is left to sum
            self.cpu = self.memory = self.load = 0.0
        if not self.latencies:
            self.latency = 0.0

    def mean(self, total: float, count: int, digits: int) -> float:
        return round(total / count, digits) if count else 0.0
