"""Which heartbeats renew their node's Lease at once, and when the others are written.

A node is offline after three heartbeat intervals without a heartbeat: the operator
reads the Lease's ``renewTime`` (``web4ai.operator.liveness``). Writing the Lease on
every heartbeat was most of what a heartbeat cost (the write, and its watch event in
the API and the operator). Here a heartbeat renews the Lease at once only when the
``renewTime`` known (written by this process or seen on the watch) is ``SPACING``
intervals old or more; a younger one is held, and the latest held heartbeat is written
``SPACING`` intervals after that ``renewTime``, with its own time. So a Lease is written
about every second heartbeat, and liveness stays exact: whenever a node falls silent,
its last heartbeat is on the Lease half an interval before the Lease would expire
without it. The clock is the caller's; no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field

from web4ai.core.expiry import Expiry

# A held heartbeat is written this many heartbeat intervals after the renewTime known,
# which leaves half an interval before the Lease expires (three) for the write; at 2
# the writes fell due when the next heartbeat did, wrote the one before it and held it
# (a write per heartbeat once in phase).
SPACING = 2.5
RETRY = 1.0  # s: a held write that failed is tried again this much later
# Held renewals are written in batches: when the first falls due, every one due within
# ``batch_slack`` of it goes with it (early, which liveness never minds). A write and
# its watch events then wake the API and the operator once per batch instead of once
# per Lease: at 10,000 nodes, ~40 writes a second in one burst.
BATCH = 1.0  # s
BATCH_SHARE = 0.2  # of the interval at most: the early write still takes the last beat


def batch_slack(interval: float) -> float:
    """How early a held renewal may be written with a batch (``BATCH``, and at most a
    fifth of the interval, so that a write never comes before the heartbeat it is held
    for: that one is due ``SPACING`` intervals after the last write, half an interval
    after the last heartbeat before it)."""
    return min(BATCH, BATCH_SHARE * interval)


@dataclass
class Renewals:
    """The renewTime known per node id, the heartbeats held, and when each is due."""

    _known: dict[str, float] = field(default_factory=dict)
    _held: dict[str, float] = field(default_factory=dict)
    _due: Expiry = field(default_factory=Expiry)  # when each node's held one is written

    def beat(self, node_id: str, now: float, interval: float, seen: float | None) -> bool:
        """A heartbeat at ``now``: True when it renews the Lease at once (then call
        ``wrote``), False when it is held. ``seen``: the renewTime on the watched Lease,
        None when there is no Lease of the node's (the first heartbeat writes it)."""
        known = self._known.get(node_id)
        if seen is not None and (known is None or seen > known):
            known = self._known[node_id] = seen
        if seen is None and known is None:
            return True
        assert known is not None
        if now - known >= SPACING * interval:
            return True
        if now > self._held.get(node_id, float("-inf")):
            self._held[node_id] = now
        if node_id not in self._due:
            self._due.schedule(node_id, known + SPACING * interval)
        return False

    def wrote(self, node_id: str, when: float) -> None:
        """The Lease now says ``when``: what was held up to then is written."""
        if when > self._known.get(node_id, float("-inf")):
            self._known[node_id] = when
        held = self._held.get(node_id)
        if held is not None and held <= when:
            del self._held[node_id]
            self._due.forget(node_id)

    def failed(self, node_id: str, when: float, now: float) -> None:
        """The write of the heartbeat held at ``when`` failed: held again, due soon."""
        if when > self._held.get(node_id, float("-inf")):
            self._held[node_id] = when
        self._due.schedule(node_id, now + RETRY)

    def due(self, now: float, early: float = 0.0) -> list[tuple[str, float]]:
        """The held heartbeats to write now, (node id, heartbeat time), each once: a
        node's next ones are held anew by ``beat``. ``early``: those due within that
        many seconds from ``now`` too (``batch_slack``)."""
        taken = ((n, self._held.pop(n, None)) for n in self._due.pop_due(now + early))
        return [(n, held) for n, held in taken if held is not None]

    def next_due(self) -> float | None:
        """When the next held heartbeat is due (None: none held)."""
        return self._due.next_due()

    def held(self) -> list[tuple[str, float]]:
        """Every held heartbeat, taken out (written on shutdown)."""
        out = list(self._held.items())
        self._held.clear()
        self._due = Expiry()
        return out

    def forget(self, node_id: str) -> None:
        """The node is gone: nothing of it is kept or written."""
        self._known.pop(node_id, None)
        self._held.pop(node_id, None)
        self._due.forget(node_id)

    def __len__(self) -> int:
        return len(self._held)
