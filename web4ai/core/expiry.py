"""Names due for a look at given times: a heap with one live entry per name.

Liveness looks at a node when its Lease may have expired, not at every node on every
look (``web4ai.operator.liveness``). Each name has one due time; scheduling a name again
replaces its time (the old heap entry stays behind, stale, and is skipped when it
surfaces). ``web4ai.core.renewals`` schedules its held heartbeats here too. Pure: the
caller passes the times.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass, field

# the heap is made anew from the live entries once the stale ones outnumber them by this
# much (a name scheduled again and again before it falls due leaves one behind each time)
COMPACT_SLACK = 1000


@dataclass
class Expiry:
    """``schedule(name, at)``, then ``pop_due(now)`` returns it once ``at <= now``."""

    # (due, name); an entry whose time is not its name's in _due_at is stale
    _heap: list[tuple[float, str]] = field(default_factory=list)
    _due_at: dict[str, float] = field(default_factory=dict)

    def schedule(self, name: str, at: float) -> None:
        """``name`` falls due at ``at``, whatever was scheduled for it before."""
        if self._due_at.get(name) == at:
            return
        self._due_at[name] = at
        heapq.heappush(self._heap, (at, name))
        if len(self._heap) > 2 * len(self._due_at) + COMPACT_SLACK:
            self._compact()

    def pop_due(self, now: float) -> list[str]:
        """The names due at ``now`` (``at <= now``), earliest first, each taken out."""
        out = []
        heap, due_at = self._heap, self._due_at
        while heap and heap[0][0] <= now:
            at, name = heapq.heappop(heap)
            if due_at.get(name) == at:
                del due_at[name]
                out.append(name)
        return out

    def forget(self, name: str) -> None:
        """``name`` is no longer due at all (its heap entry goes stale)."""
        self._due_at.pop(name, None)

    def replace_all(self, due: dict[str, float]) -> None:
        """These names due at these times, and no others (one heap made in one go: a
        full look schedules every node at once)."""
        self._due_at = dict(due)
        self._compact()

    def reschedule_all(self, at: float) -> None:
        """Every name scheduled falls due at ``at`` (their times may be too late)."""
        self._due_at = dict.fromkeys(self._due_at, at)
        self._compact()

    def due_at(self, name: str) -> float | None:
        """When ``name`` falls due (None: not scheduled)."""
        return self._due_at.get(name)

    def next_due(self) -> float | None:
        """The earliest due time (None: nothing scheduled)."""
        heap = self._heap
        while heap and self._due_at.get(heap[0][1]) != heap[0][0]:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def _compact(self) -> None:
        self._heap = [(at, name) for name, at in self._due_at.items()]
        heapq.heapify(self._heap)

    def __len__(self) -> int:
        return len(self._due_at)

    def __contains__(self, name: object) -> bool:
        return name in self._due_at

    def __iter__(self) -> Iterator[str]:
        return iter(self._due_at)
