"""Retention by count in-process: ``orchestrator.maxRetainedTasks`` holds under a burst of
finished tasks, oldest first, in bounded rounds; a pending or active task is never deleted."""

from __future__ import annotations

import pytest

from tests.unit.controllers.fakes import FakeCluster
from tests.unit.controllers.test_accounting import (
    accounting_for,
    bind,
    complete,
    fail,
    finished,
    retry,
    write,
)
from web4ai.core import bodies
from web4ai.core.model import TaskStatus
from web4ai.core.resources import ORCHESTRATORS, TASKS
from web4ai.operator import accounting as accounting_module

KEEP = 5


def by_status(cluster: FakeCluster) -> dict[TaskStatus, set[str]]:
    out: dict[TaskStatus, set[str]] = {}
    for body in cluster.server.objects[TASKS].values():
        out.setdefault(bodies.task_status(bodies.as_task(body)), set()).add(body["spec"]["taskId"])
    return out


async def test_the_count_holds_under_a_burst_and_only_finished_tasks_go(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(accounting_module, "RETIRE_BATCH", 4)  # rounds of 4 at most
    cluster = FakeCluster()
    cluster.configure(orchestrator={"maxRetainedTasks": KEEP, "taskRetention": 86400})
    cluster.add_node("n1", agents=100)
    accounting = accounting_for(cluster)
    for i in range(3):
        cluster.add_task(f"pending-{i}")
        cluster.add_task(f"active-{i}")
        cluster.sync()
        write(cluster, f"active-{i}", bind("n1"))
    rounds, submitted = [], 0
    for _burst in range(4):  # 6 tasks finish between two rounds, twice a round's batch
        for _ in range(6):
            finished(cluster, f"done-{submitted:02}", complete if submitted % 3 else fail)
            submitted += 1
        for _ in range(3):
            cluster.sync()
            rounds.append(await accounting.retire())
            cluster.sync()
        assert by_status(cluster)[TaskStatus.PENDING] == {f"pending-{i}" for i in range(3)}
        assert by_status(cluster)[TaskStatus.ACTIVE] == {f"active-{i}" for i in range(3)}
    assert max(rounds) == 4  # bounded batches
    kept = by_status(cluster)
    done = kept.get(TaskStatus.COMPLETED, set()) | kept.get(TaskStatus.FAILED, set())
    assert done == {f"done-{i:02}" for i in range(submitted - KEEP, submitted)}  # the newest
    status = cluster.server.objects[ORCHESTRATORS]["web4ai"]["status"]
    counted = status["tasksCompletedTotal"] + status["tasksFailedTotal"]
    assert counted == submitted - KEEP  # each deleted task counted exactly once


async def test_a_task_retried_after_it_was_counted_is_not_deleted() -> None:
    """A round's list names a task that was retried (pending again) before its deletion:
    it stays, as does any pending or active task."""
    cluster = FakeCluster()
    cluster.configure(orchestrator={"maxRetainedTasks": 1, "taskRetention": 0})
    cluster.add_node("n1", agents=10)
    accounting = accounting_for(cluster)
    finished(cluster, "again", fail)
    body = cluster.task("again")
    assert body is not None
    entry = {"name": bodies.name_of(body), "uid": body["metadata"]["uid"]}
    cluster.set_status(ORCHESTRATORS, bodies.ORCHESTRATOR_NAME, retiringTasks=[entry])
    write(cluster, "again", retry)
    cluster.sync()
    assert await accounting.retire() == 0
    assert cluster.writer.done("delete") == []
    assert by_status(cluster) == {TaskStatus.PENDING: {"again"}}
