"""In-place upgrade of objects written by an earlier version: tasks stored with the
old status words (``assigned``/``running``) or without ``phase`` get the seed's
status, a phase and the current holder in ``assignedNodes``.

Every replica notes such tasks as the watch shows them; the leader upgrades what
it noted, and everything on a new term (a previous leader may have noted more)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from web4ai.core import bodies, patches
from web4ai.core.crs import TaskBody
from web4ai.core.resources import TASKS
from web4ai.k8s.cache import ClusterState
from web4ai.k8s.errors import RACED
from web4ai.k8s.writing import Writer

log = logging.getLogger(__name__)


@dataclass
class Upgrader:
    state: ClusterState
    writer: Writer
    noted: set[str] = field(default_factory=set)

    def task_changed(self, new: TaskBody, old: TaskBody | None) -> None:
        if bodies.needs_upgrade(new):
            self.noted.add(bodies.name_of(new))

    def note_all(self) -> None:
        self.noted = {n for n, b in self.state.tasks_by_name.items() if bodies.needs_upgrade(b)}

    async def run_once(self) -> int:
        """One guarded write per noted object; returns how many were upgraded. An
        object that fails stays noted for the next pass."""
        upgraded = 0
        for name in list(self.noted):
            body = self.state.tasks_by_name.get(name)
            if body is None or not bodies.needs_upgrade(body):
                self.noted.discard(name)
                continue
            try:
                result = await self.writer.patch(
                    TASKS, name, patches.upgrade_patch(body), status=True
                )
            except RACED:
                continue  # changed meanwhile: the watch brings it back, noted again
            except Exception:
                log.exception(
                    "could not upgrade task %s", name, extra={"task_id": body["spec"].get("taskId")}
                )
                continue
            self.noted.discard(name)
            self.state.record_task(result)
            upgraded += 1
        if upgraded:
            log.info("upgraded %d task(s) to status + phase", upgraded)
        return upgraded
