"""The unschedulable set of the scheduling queue (kube-scheduler's, pure bookkeeping).

A task that no node could take at its last attempt waits here, grouped by why: by
what it needs from one node (its requirements, preferred nodes aside, which only
rank the nodes that fit). It is not looked at again until an event could make it
fit, decided per group by a QueueingHint-style check, or until a slow flush:

- a node added or changed (capacity, capabilities, status, load): the groups the
  new version of the node fits and the old one did not;
- a slot freed on a node: the groups the node fits now;
- the settings changed (thresholds): every group;
- ``flush``: whatever has waited longer than the flush interval (a missed event
  costs at most that).

Only a group's first tasks in order move back, as many as the node has free slots,
so a freed slot wakes one task, not a whole backlog.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from web4ai.core.model import Node, Task, Thresholds
from web4ai.core.scheduling import unfit_reason

Order = tuple[int, float, str]


def needs(task: Task) -> Task:
    """What ``task`` needs from one node, the key of its group: the task without what
    tells it apart from others (its name, order and earlier nodes) or only ranks the
    nodes that fit (its preferred nodes, its affinity key)."""
    return replace(
        task,
        name="",
        task_id="",
        priority=0,
        submitted_at=0.0,
        previous_nodes=(),
        requirements=replace(task.requirements, preferred_nodes=(), affinity_key=None),
    )


def fits(task: Task, node: Node | None, thresholds: Thresholds) -> bool:
    return node is not None and unfit_reason(task, node, thresholds) is None


def may_help(task: Task, before: Node | None, after: Node | None, thresholds: Thresholds) -> bool:
    """The QueueingHint of a node event: the node, as it is now, fits ``task`` and, as it
    was before (None: new, or the slot not yet freed), did not."""
    return fits(task, after, thresholds) and not fits(task, before, thresholds)


@dataclass(frozen=True)
class Waiting:
    order: Order
    key: Task
    since: float  # when it joined the set


@dataclass
class _Group:
    heap: list[tuple[Order, str]] = field(default_factory=list)  # stale entries skipped
    size: int = 0


@dataclass
class Unschedulable:
    entries: dict[str, Waiting] = field(default_factory=dict)
    changes: int = 0  # +1 whenever the set of names changes (a pass's memo key)
    _groups: dict[Task, _Group] = field(default_factory=dict)

    def __contains__(self, name: object) -> bool:
        return name in self.entries

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def groups(self) -> int:
        return len(self._groups)

    def add(self, task: Task, now: float) -> None:
        self.discard(task.name)
        key = needs(task)
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Group()
        self.entries[task.name] = Waiting(task.order, key, now)
        self.changes += 1
        heapq.heappush(group.heap, (task.order, task.name))
        group.size += 1

    def discard(self, name: str) -> bool:
        """Drop ``name`` (no longer pending, changed or gone); whether it was here."""
        entry = self.entries.pop(name, None)
        if entry is None:
            return False
        self.changes += 1
        group = self._groups[entry.key]
        group.size -= 1
        if not group.size:
            del self._groups[entry.key]
        elif len(group.heap) > 2 * group.size + 64:  # compact the stale entries
            group.heap = [(o, n) for o, n in group.heap if self._live(entry.key, o, n)]
            heapq.heapify(group.heap)
        return True

    def _live(self, key: Task, order: Order, name: str) -> bool:
        entry = self.entries.get(name)
        return entry is not None and entry.key == key and entry.order == order

    def _take(self, key: Task, limit: int | None) -> list[str]:
        """The first ``limit`` tasks of a group in order (all when None), out of the set."""
        group, out = self._groups[key], list[str]()
        while group.heap and (limit is None or len(out) < limit):
            order, name = heapq.heappop(group.heap)
            if self._live(key, order, name):
                out.append(name)
                self.discard(name)
                if key not in self._groups:
                    break
        return out

    def _move(self, helps: Callable[[Task], bool], limit: int | None) -> list[str]:
        moved: list[str] = []
        for key in [k for k in self._groups if helps(k)]:
            moved += self._take(key, limit)
        return moved

    def node_changed(
        self, before: Node | None, after: Node | None, thresholds: Thresholds
    ) -> list[str]:
        """A node added or changed: the tasks it could help, out of the set."""
        if after is None or after.free_slots <= 0:
            return []
        return self._move(lambda t: may_help(t, before, after, thresholds), after.free_slots)

    def slot_freed(self, node: Node, thresholds: Thresholds) -> list[str]:
        """A slot freed on ``node`` (shown with its count now): the first tasks of every
        group it fits, as many as it has free slots, out of the set."""
        return self.node_changed(None, node, thresholds)

    def move_all(self) -> list[str]:
        """Everything, out of the set (the settings changed, a new term)."""
        moved = list(self.entries)
        self.entries.clear()
        self.changes += 1
        self._groups.clear()
        return moved

    def flush(self, waited_since: float, keep: Callable[[str], bool]) -> list[str]:
        """The tasks that joined before ``waited_since``, out of the set; those ``keep``
        says are no longer pending are dropped (not returned)."""
        old = [n for n, e in self.entries.items() if e.since < waited_since or not keep(n)]
        for name in old:
            self.discard(name)
        return [n for n in old if keep(n)]
