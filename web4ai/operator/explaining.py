"""Why a task waits: the Scheduled=False condition of the tasks in the scheduler's
unschedulable set, written when its message changes (never on a timer), a bounded
number of writes at a time and in the background, so that explaining never delays
binding. A task merely waiting for a free slot (reason Queued) is explained only once
it has waited ``QUEUED_QUIET``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

from web4ai.core import patches
from web4ai.core.crs import Body, Patch, TaskBody
from web4ai.core.model import Node, Task, Thresholds
from web4ai.core.queueing import Unschedulable, needs
from web4ai.core.scheduling import LeastConnections, only_capacity, pick_node
from web4ai.k8s.cache import ClusterState
from web4ai.operator.isolation import Isolation

EXPLAIN_PER_PASS = 32  # explanation writes started per pass, and in flight at most
# A task merely waiting for a free slot (every node that fits is full: reason Queued)
# has its condition written once it has waited this long. In a burst most such tasks
# are bound within it, and each write saved is one for the API server and two watch
# events. A task that fits no node (Unschedulable) is explained at once.
QUEUED_QUIET = 2.0


@dataclass
class Explainer:
    state: ClusterState
    queue: Unschedulable
    guard: Isolation
    task: Callable[[TaskBody], Task]  # the scheduler's parse (once per version)
    start: Callable[[Coroutine[Any, Any, None]], None]  # a write in the background
    write: Callable[[str, Patch], Awaitable[Body | None]]  # a status patch; None: raced
    writing: set[str] = field(default_factory=set)  # their condition being written
    # in the unschedulable set, their condition not yet compared with why (in order)
    unexplained: dict[str, None] = field(default_factory=dict)
    # merely waiting for a free slot: when their Queued condition is due (in that order)
    queued: dict[str, float] = field(default_factory=dict)

    def added(self, names: list[str]) -> None:
        """New in the unschedulable set: explained on the next ``some``."""
        self.unexplained.update(dict.fromkeys(names))

    def forget(self, name: str) -> None:
        """Out of the set (moved back, decided, gone): nothing to say."""
        self.unexplained.pop(name, None)
        self.queued.pop(name, None)

    def prune(self) -> None:
        """Keep only what is still in the set."""
        self.unexplained = {n: None for n in self.unexplained if n in self.queue}
        self.queued = {n: due for n, due in self.queued.items() if n in self.queue}

    def due(self, now: float) -> bool:
        """Whether a write may be due: a task new to the set, or a quiet time over."""
        return bool(self.unexplained) or self._queued_due(now)

    def _queued_due(self, now: float) -> bool:
        return bool(self.queued) and next(iter(self.queued.values())) <= now

    def some(self, views: Mapping[str, Node], thresholds: Thresholds, now: float) -> None:
        """Start the condition writes of waiting tasks: first of those merely waiting for
        a slot whose quiet time is over (oldest first; the rest are younger), then of
        those new to the set, a bounded number of writes per pass."""
        messages: dict[Task, str] = {}  # one message per need, against every node
        while self._queued_due(now) and len(self.writing) < EXPLAIN_PER_PASS:
            name = next(iter(self.queued))
            del self.queued[name]
            self._explain(name, views, thresholds, now, messages, defer=False)
        for name in list(self.unexplained):
            if len(self.writing) >= EXPLAIN_PER_PASS:
                break
            del self.unexplained[name]
            self._explain(name, views, thresholds, now, messages, defer=True)

    def _explain(
        self,
        name: str,
        views: Mapping[str, Node],
        thresholds: Thresholds,
        now: float,
        messages: dict[Task, str],
        *,
        defer: bool,
    ) -> None:
        """Write why ``name`` waits, unless its condition says so already; with ``defer``
        a task merely waiting for a slot is set aside for ``QUEUED_QUIET`` instead."""
        body = self.state.tasks_by_name.get(name)
        if body is None or name not in self.queue:
            return
        task = self.task(body)
        key = needs(task)
        if key not in messages:
            messages[key] = (  # a balancer of its own: the decision's keeps its turn
                pick_node(task, list(views.values()), thresholds, LeastConnections()).message
                or "waiting for a free slot"
            )
        patch = patches.waiting_patch(body, messages[key], now)
        if patch is None:
            return
        if defer and only_capacity(messages[key]):
            self.queued[name] = now + QUEUED_QUIET
            return
        self.writing.add(name)
        self.start(self._write(name, patch))

    async def _write(self, name: str, patch: Patch) -> None:
        try:
            result = await self.guard.run("explain", name, self.write, name, patch)
            if result is not None:
                self.state.record_task(result)
            elif name in self.queue:
                self.unexplained[name] = None  # lost a race or failed: said on a later pass
        finally:
            self.writing.discard(name)
            self.state.changed.set()
