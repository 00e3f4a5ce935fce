"""Task clocks: an attempt's timeout (from assignment) and the absolute deadline."""

from __future__ import annotations

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


@dataclass
class Timekeeper:
    state: ClusterState
    writer: Writer
    clock: Callable[[], float]
    guard: Isolation = field(default_factory=Isolation)

    async def run_once(self) -> None:
        now = self.clock()
        for body in self.state.tasks_with(
            TaskPhase.QUEUED, TaskPhase.RETRYING, TaskPhase.ASSIGNED, TaskPhase.RUNNING
        ):
            await self.guard.run("timekeeping", bodies.name_of(body), self._one, body, now)

    async def _one(self, body: TaskBody, now: float) -> None:
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
                return
            self.state.record_task(result)
