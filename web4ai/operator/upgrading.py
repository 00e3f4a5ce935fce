"""In-place upgrade of objects written by an earlier version: tasks stored with the
old status words (``assigned``/``running``) or without ``phase`` get the seed's
status, a phase and the current holder in ``assignedNodes``."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from web4ai.k8s import resources as res
from web4ai.k8s.cache import ClusterState
from web4ai.k8s.writing import Writer

log = logging.getLogger(__name__)


@dataclass
class Upgrader:
    state: ClusterState
    writer: Writer

    async def run_once(self) -> int:
        """One guarded write per object that needs it; returns how many were upgraded.
        A conflict leaves the object for the next round (its writer may upgrade it)."""
        upgraded = 0
        for body in list(self.state.tasks.store.values()):
            if not res.needs_upgrade(body):
                continue
            try:
                result = await self.writer.patch(
                    res.TASKS, res.name_of(body), res.upgrade_patch(body), status=True
                )
            except Exception:
                log.exception("could not upgrade task %s", res.name_of(body))
                continue
            if result is not None:
                self.state.record_task(result)
                upgraded += 1
        if upgraded:
            log.info("upgraded %d task(s) to status + phase", upgraded)
        return upgraded
