"""The consistent-hash ring of model-aware routing's affinity keys (``web4ai.core.routing``).

Each node has ``VIRTUAL_NODES`` points on a 64-bit circle; a key walks clockwise from
its own point. The points are kept in ``ARCS`` sorted arcs of the circle (by their top
bits), so that a node that comes or goes costs its own points (a short list insert or
delete each), not a new ring: at 10,000 nodes making the ring takes over a second.
Pure: no I/O.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from operator import itemgetter

VIRTUAL_NODES = 64  # points per node on the ring: loads within a few % of even
ARC_BITS = 8  # 256 arcs: ~2,500 points each at 10,000 nodes
SHIFT = 64 - ARC_BITS
_point_of = itemgetter(0)


def point(text: str) -> int:
    """A 64-bit point on the ring (blake2b: stable across processes and versions)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


@dataclass
class Ring:
    """A consistent-hash ring of node ids, ``virtual`` points each; ``update`` follows
    the nodes as they come and go."""

    virtual: int = VIRTUAL_NODES
    nodes: set[str] = field(default_factory=set)
    # (point, node id) in order, per arc of the circle
    _arcs: list[list[tuple[int, str]]] = field(
        default_factory=lambda: [[] for _ in range(1 << ARC_BITS)]
    )

    @classmethod
    def of(cls, node_ids: Collection[str], virtual: int = VIRTUAL_NODES) -> Ring:
        ring = cls(virtual)
        ring.update(node_ids)
        return ring

    def _points(self, node_id: str) -> list[int]:
        return [point(f"{node_id}#{i}") for i in range(self.virtual)]

    def update(self, node_ids: Collection[str]) -> None:
        """Make the ring's nodes ``node_ids``: the points of those gone leave it, those
        of the new ones join it."""
        wanted = node_ids if isinstance(node_ids, set | frozenset) else set(node_ids)
        for gone in self.nodes - wanted:
            self.nodes.discard(gone)
            for p in self._points(gone):
                arc = self._arcs[p >> SHIFT]
                del arc[bisect.bisect_left(arc, (p, gone))]
        joining: dict[int, list[tuple[int, str]]] = {}  # per arc
        for new in wanted - self.nodes:
            self.nodes.add(new)
            for p in self._points(new):
                joining.setdefault(p >> SHIFT, []).append((p, new))
        for index, pairs in joining.items():
            arc = self._arcs[index]
            if len(pairs) > 8:  # many at once (the first ring): one sort of the arc
                arc.extend(pairs)
                arc.sort()
            else:
                for pair in pairs:
                    bisect.insort(arc, pair)

    def walk(self, key: str) -> Iterator[str]:
        """Each node once, clockwise from the key's point (after it: a point equal to
        the key's comes last)."""
        if not self.nodes:
            return
        at = point(key)
        first = at >> SHIFT
        arcs = len(self._arcs)
        seen: set[str] = set()
        arc = self._arcs[first]
        start = bisect.bisect(arc, at, key=_point_of)
        # the key's own arc from its point, every other arc, then the key's arc up to it
        pieces = [arc[start:]]
        pieces += [self._arcs[(first + i) % arcs] for i in range(1, arcs)]
        pieces.append(arc[:start])
        for piece in pieces:
            for _, owner in piece:
                if owner not in seen:
                    seen.add(owner)
                    yield owner
                    if len(seen) == len(self.nodes):
                        return
