"""Task clocks: an attempt's timeout (from assignment) and the absolute deadline.

Each waiting or bound task with a clock is kept in a heap by when it falls due (its
deadline, or its assignment plus its timeout, whichever comes first), so a tick looks
only at the tasks due, not at every pending task.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field

from web4ai.core import bodies, patches
from web4ai.core.crs import TaskBody
from web4ai.core.defaults import TASK_SPEC_DEFAULTS as TASK
from web4ai.core.lifecycle import attempt_timed_out, past_deadline
from web4ai.core.model import TaskPhase
from web4ai.core.resources import TASKS
from web4ai.k8s.cache import ClusterState
from web4ai.k8s.errors import RACED
from web4ai.k8s.writing import Writer
from web4ai.operator.isolation import Isolation

CLOCKED = (TaskPhase.QUEUED, TaskPhase.RETRYING, TaskPhase.ASSIGNED, TaskPhase.RUNNING)


def due_at(body: TaskBody) -> float | None:
    """When the task's deadline or its attempt's timeout falls due, or None (no clock)."""
    phase = bodies.task_phase(body)
    if phase not in CLOCKED:
        return None
    spec, times = body["spec"], []
    if spec.get("deadline") is not None:
        times.append(float(spec["deadline"]))
    assigned = bodies.parse_time(bodies.status_of(body).get("assignedAt"))
    if phase.bound and assigned is not None:
        times.append(assigned + float(spec.get("timeout", TASK["timeout"])))
    return min(times) if times else None


@dataclass
class Timekeeper:
    state: ClusterState
    writer: Writer
    clock: Callable[[], float]
    guard: Isolation = field(default_factory=Isolation)
    _due: list[tuple[float, str]] = field(default_factory=list)  # stale entries skipped
    _seeded: bool = False

    def subscribe(self) -> None:
        """Hook to the state's task events: each new version's clock joins the heap."""
        self.state.on_task_change.append(self.note_task)

    def note_task(self, new: TaskBody, old: TaskBody | None) -> None:
        if self._seeded:
            self._push(new)

    def _push(self, body: TaskBody) -> None:
        due = due_at(body)
        if due is not None:
            heapq.heappush(self._due, (due, bodies.name_of(body)))

    async def run_once(self) -> None:
        now = self.clock()
        if not self._seeded:  # the tasks held before the hook saw them
            self._seeded = True
            for held in self.state.tasks_with(*CLOCKED):
                self._push(held)
        again: list[tuple[float, str]] = []
        while self._due and self._due[0][0] < now:
            due, name = heapq.heappop(self._due)
            body = self.state.tasks_by_name.get(name)
            if body is None or due_at(body) != due:
                continue  # gone, or a newer version is in the heap by its own time
            result = await self.guard.run("timekeeping", name, self._one, body, now)
            current = self.state.tasks_by_name.get(name)
            if result is None and current is body:  # failed or backing off: a later tick
                again.append((due, name))
        for entry in again:
            heapq.heappush(self._due, entry)
        if len(self._due) > 2 * len(self.state.tasks_by_name) + 1000:  # stale entries
            self._due = []
            self._seeded = False

    async def _one(self, body: TaskBody, now: float) -> bool:
        spec, status = body["spec"], bodies.status_of(body)
        patch = None
        if past_deadline(spec.get("deadline"), now):
            patch = patches.attempt_failed_patch(
                body, f"deadline {spec['deadline']} passed", now, retryable=False
            )
        elif bodies.task_phase(body).bound and attempt_timed_out(
            bodies.parse_time(status.get("assignedAt")),
            float(spec.get("timeout", TASK["timeout"])),
            now,
        ):
            patch = patches.attempt_failed_patch(
                body,
                f"timed out after {spec.get('timeout', 300)}s on {status.get('nodeId')}",
                now,
            )
        if patch is not None:
            try:
                result = await self.writer.patch(TASKS, bodies.name_of(body), patch, status=True)
            except RACED:
                return True  # the watch brings the newer version
            self.state.record_task(result)
        return True
