"""Which finished tasks to delete: by age (``task_retention``) and by count
(``max_retained_tasks``, as Kubernetes' terminated-pod GC), oldest first, a bounded
batch per round. Only finished tasks are ever offered here."""

from __future__ import annotations

import heapq
from collections.abc import Mapping


def to_retire(
    finished: Mapping[str, float | None],
    now: float,
    retention: float,
    max_retained: int,
    batch: int,
) -> list[str]:
    """The finished tasks (name -> when it finished, None if unknown) to delete now,
    oldest first, at most ``batch``: those finished ``retention`` seconds ago or more,
    and the oldest beyond ``max_retained`` whatever their age (an unknown time counts
    as oldest, but never as expired)."""
    cutoff = now - retention
    excess = max(0, len(finished) - max_retained)
    if not excess and not any(d is not None and d <= cutoff for d in finished.values()):
        return []
    oldest = heapq.nsmallest(
        batch,
        finished.items(),
        key=lambda kv: (float("-inf") if kv[1] is None else kv[1], kv[0]),
    )
    return [
        name
        for rank, (name, done) in enumerate(oldest)
        if rank < excess or (done is not None and done <= cutoff)
    ]
