"""The order ``GET /tasks`` pages in, kept as tasks change: one sorted list per status
and one per phase, so that a page at any offset is a slice, not a sort of every task.

Pending tasks (queued, retrying) come in queue order (priority, submitted, name); the
others newest first: by when they finished, else when they were assigned, else
submitted (then by name). A task's place moves only when its phase or its key does.
Pure: the API's ``ClusterState`` feeds it from its task hook."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

from web4ai.core.bodies import name_of, parse_time, status_of, submitted_at, task_from_body
from web4ai.core.crs import TaskBody
from web4ai.core.model import TaskPhase, TaskStatus

Key = tuple[Any, ...]


def list_key(body: TaskBody, phase: TaskPhase) -> Key:
    """Where the task goes in its lists (the name last: keys are unique)."""
    if phase.waiting:
        return task_from_body(body).order
    status = status_of(body)
    when = parse_time(status.get("completedAt") or status.get("assignedAt"))
    return (-(when or submitted_at(body)), name_of(body))


def _lists() -> dict[tuple[bool, str], list[Key]]:
    """(by phase?, the word) -> its sorted keys ("completed" and "failed" are both a
    status and a phase)."""
    return {
        **{(False, s.value): [] for s in TaskStatus},
        **{(True, p.value): [] for p in TaskPhase},
    }


@dataclass
class ListOrder:
    kept: bool = True  # False: not kept at all (the operator lists no tasks)
    _sorted: dict[tuple[bool, str], list[Key]] = field(default_factory=_lists)
    _held: dict[str, tuple[TaskPhase, Key]] = field(default_factory=dict)

    def put(self, name: str, body: TaskBody | None, phase: TaskPhase | None = None) -> None:
        """The task's version now (``body`` None: it is gone)."""
        if not self.kept:
            return
        now = None if body is None or phase is None else (phase, list_key(body, phase))
        held = self._held.get(name)
        if held == now:
            return
        if held is not None:
            for into in ((True, held[0].value), (False, held[0].status.value)):
                keys = self._sorted[into]
                del keys[bisect.bisect_left(keys, held[1])]
            del self._held[name]
        if now is not None:
            for into in ((True, now[0].value), (False, now[0].status.value)):
                bisect.insort(self._sorted[into], now[1])
            self._held[name] = now

    def page(self, status: str, phase: str | None, offset: int, limit: int) -> list[str]:
        """The names of a page of tasks with ``status`` (and ``phase``, when given)."""
        if phase is not None and TaskPhase(phase).status.value != status:
            return []
        keys = self._sorted[(phase is not None, phase or status)][offset : offset + limit]
        return [str(k[-1]) for k in keys]

    def count(self, status: str) -> int:
        return len(self._sorted[(False, status)])
