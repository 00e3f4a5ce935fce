"""Bookkeeping of the leader: Events on node transitions, node counters and
reliability, and the retention of finished tasks with exact lifetime totals."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from web4ai.core import bodies, patches
from web4ai.core.crs import Attempt, NodeBody, Patch, RetiringTask, TaskBody
from web4ai.core.lifecycle import reliability_score
from web4ai.core.model import NodeStatus, TaskStatus
from web4ai.core.resources import NODES, ORCHESTRATORS, TASKS
from web4ai.core.retention import to_retire
from web4ai.k8s.cache import ClusterState
from web4ai.k8s.errors import RACED
from web4ai.k8s.writing import Writer
from web4ai.operator.isolation import Isolation

log = logging.getLogger(__name__)

RETIRE_BATCH = 500
DELETE_IN_FLIGHT = 16  # deletions of a round sent at once
# A node's counters (tasksCompleted, tasksFailed, reliabilityScore) move with every
# task: they are written at most this often per node, so that a busy node costs one
# status write (and one watch event to every watcher) per interval, not per task.
COUNTERS_EVERY = 5.0
EVENT_REASONS = {
    NodeStatus.ACTIVE: "NodeActive",
    NodeStatus.DEGRADED: "NodeDegraded",
    NodeStatus.MAINTENANCE: "NodeMaintenance",
    NodeStatus.OFFLINE: "NodeOffline",
    NodeStatus.ERROR: "NodeError",
}


def _finished_attempts(body: TaskBody | None) -> list[Attempt]:
    attempts = (bodies.status_of(body).get("attempts") or []) if body is not None else []
    return [a for a in attempts if "finishedAt" in a]


@dataclass
class Accounting:
    state: ClusterState
    writer: Writer
    clock: Callable[[], float]
    deltas: dict[str, list[int]] = field(default_factory=dict)  # node id -> [completed, failed]
    events: list[tuple[NodeBody, str, str, bool]] = field(default_factory=list)
    guard: Isolation = field(default_factory=Isolation)
    counters_every: float = COUNTERS_EVERY
    _counted_at: dict[str, float] = field(default_factory=dict)  # node id -> last write

    # -- observing (sync, from watch events and our own writes) -------------

    def reset(self) -> None:
        """On becoming leader: what was observed before is the previous leader's to write."""
        self.deltas.clear()
        self.events.clear()
        self._counted_at.clear()

    # Every replica observes (a leader whose renewal lags for a moment must not miss a
    # transition); only the leader writes, and a new leader starts from reset().

    def task_changed(self, new: TaskBody, old: TaskBody | None) -> None:
        if old is None:
            return
        before, after = _finished_attempts(old), _finished_attempts(new)
        for attempt in after[len(before) :]:
            if attempt.get("outcome") == "failed" and attempt.get("nodeId"):
                self.deltas.setdefault(attempt["nodeId"], [0, 0])[1] += 1
        if bodies.task_status(new) is TaskStatus.COMPLETED and not bodies.task_status(old).terminal:
            node = bodies.task_node(new)
            if node:
                self.deltas.setdefault(node, [0, 0])[0] += 1

    def node_changed(self, new: NodeBody, old: NodeBody | None) -> None:
        if old is None:
            return
        before, after = bodies.node_status(old), bodies.node_status(new)
        if after is None or before == after:
            return
        ready = {c["type"]: c for c in bodies.status_of(new).get("conditions") or []}
        cond = ready.get("Ready")
        detail = cond.get("message") if cond is not None and after is NodeStatus.OFFLINE else None
        message = f"{before.value if before else 'new'} -> {after.value}"
        if detail:
            message += f": {detail}"
        warning = after in (NodeStatus.OFFLINE, NodeStatus.ERROR, NodeStatus.DEGRADED)
        self.events.append((new, EVENT_REASONS[after], message, warning))

    # -- writing (async, in the leader's pass) --------------------------------

    async def flush(self, *, force: bool = False) -> None:
        """Post the Events, and write each node's counters whose last write is at least
        ``counters_every`` ago (every node's with ``force``: stepping down)."""
        events, self.events = self.events, []
        for involved, reason, message, warning in events:
            # best effort: an event that cannot be posted is logged, not retried
            await self.guard.run(
                "event",
                bodies.name_of(involved),
                self.writer.event,
                involved,
                reason,
                message,
                warning=warning,
            )
        if not self.deltas:
            return
        now = self.clock()
        due = [
            n
            for n in self.deltas
            if force or now - self._counted_at.get(n, float("-inf")) >= self.counters_every
        ]
        if not due:
            return
        for node_id in due:
            body = self.state.node_by_id(node_id)
            if body is None:
                del self.deltas[node_id]
                self._counted_at.pop(node_id, None)
                continue
            await self.guard.run("counters", bodies.name_of(body), self._count, node_id, body)

    async def _count(self, node_id: str, body: NodeBody) -> None:
        completed, failed = self.deltas[node_id]
        status = bodies.status_of(body)
        total_c = int(status.get("tasksCompleted", 0)) + completed
        total_f = int(status.get("tasksFailed", 0)) + failed
        patch = patches.guarded(
            body,
            {
                "status": {
                    "tasksCompleted": total_c,
                    "tasksFailed": total_f,
                    "reliabilityScore": reliability_score(total_c, total_f),
                }
            },
        )
        try:
            result = await self.writer.patch(NODES, bodies.name_of(body), patch, status=True)
        except RACED:
            return  # a heartbeat came first (or the node went): retry on the next pass
        # subtract what was written: more may have arrived during the await
        left = self.deltas.get(node_id)
        if left is None:  # reset (a new term) meanwhile
            return
        left[0] -= completed
        left[1] -= failed
        self._counted_at[node_id] = self.clock()
        if left == [0, 0]:
            del self.deltas[node_id]
        self.state.record_node(result)

    def _retirable(self, entry: RetiringTask) -> TaskBody | None:
        """The task of a retiring entry while it still exists as the object that was
        counted (a new task may reuse the name: it has another UID and is not touched)
        and is still finished (a retried one is pending again: never deleted)."""
        body = self.state.tasks_by_name.get(str(entry.get("name")))
        if body is None or body["metadata"].get("uid") != entry.get("uid"):
            return None
        return body if bodies.task_phase(body).terminal else None

    async def retire(self) -> int:
        """Delete tasks finished longer than the retention ago, and the oldest finished
        beyond ``max_retained_tasks``, at most RETIRE_BATCH a round, counting them exactly
        once: the totals and the tasks (name and UID) go into one guarded write, the
        deletions follow (each only of the very version seen finished: UID and
        resourceVersion preconditions), and a replica that takes over finishes a round
        it finds half done. The list is cleared once every task of it is gone. Returns
        how many tasks the round took on."""
        orch = self.state.orchestrator()
        if orch is None:
            return 0
        status = bodies.status_of(orch)
        leftover = [b for e in status.get("retiringTasks") or [] if (b := self._retirable(e))]
        if leftover:  # finish the round first; the watch shows the deletions
            await self._delete_all(leftover)
            return 0
        settings = self.state.settings()
        names = to_retire(
            self.state.finished_at(),
            self.clock(),
            settings.task_retention,
            settings.max_retained_tasks,
            RETIRE_BATCH,
        )
        expired = [self.state.tasks_by_name[n] for n in names]
        if not expired:
            if status.get("retiringTasks") or status.get("retiring"):
                # the round is done: clear the list (``retiring`` held names before 0.2)
                cleared = patches.guarded(
                    orch, {"status": {"retiringTasks": None, "retiring": None}}
                )
                await self._write_orchestrator(cleared)
            return 0
        completed = sum(1 for b in expired if bodies.task_status(b) is TaskStatus.COMPLETED)
        entries: list[RetiringTask] = [
            {"name": bodies.name_of(b), "uid": b["metadata"]["uid"]} for b in expired
        ]
        patch = patches.guarded(
            orch,
            {
                "status": {
                    "tasksCompletedTotal": int(status.get("tasksCompletedTotal", 0)) + completed,
                    "tasksFailedTotal": int(status.get("tasksFailedTotal", 0))
                    + len(expired)
                    - completed,
                    "retiringTasks": entries,
                    "retiring": None,
                }
            },
        )
        if not await self._write_orchestrator(patch):
            return 0
        await self._delete_all(expired)
        return len(expired)

    async def _write_orchestrator(self, patch: Patch) -> bool:
        """A guarded status write of the orchestrator, into the store; False when
        someone wrote first (the next pass looks again)."""
        try:
            result = await self.writer.patch(
                ORCHESTRATORS, bodies.ORCHESTRATOR_NAME, patch, status=True
            )
        except RACED:
            return False
        self.state.record_orchestrator(result)
        return True

    async def _delete_all(self, tasks: list[TaskBody]) -> None:
        """Delete these finished tasks, DELETE_IN_FLIGHT at a time, each on its own."""
        for start in range(0, len(tasks), DELETE_IN_FLIGHT):
            await asyncio.gather(
                *(
                    self.guard.run("retire", bodies.name_of(b), self._delete, b)
                    for b in tasks[start : start + DELETE_IN_FLIGHT]
                )
            )

    async def _delete(self, body: TaskBody) -> None:
        uid = body["metadata"].get("uid")
        name, version = bodies.name_of(body), bodies.resource_version(body)
        await self.writer.delete(TASKS, name, version, uid=uid)
