"""Accounting in-process: node counters and reliability from observed task transitions,
Events on node transitions, and retention with exact lifetime totals. Formerly
tests/integration/test_operator_lifecycle.py::test_counters_events_and_retention."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.unit.controllers.fakes import FakeCluster
from web4ai.core import bodies, patches
from web4ai.core.crs import Patch, TaskBody
from web4ai.core.lifecycle import reliability_score
from web4ai.core.resources import NODES, ORCHESTRATORS, TASKS
from web4ai.k8s.errors import Conflict
from web4ai.operator.accounting import Accounting

Step = Callable[[TaskBody, float], Patch]  # a task's body -> the status patch the API writes


def accounting_for(cluster: FakeCluster) -> Accounting:
    accounting = Accounting(cluster.state, cluster.writer, cluster.clock, guard=cluster.guard())
    cluster.state.on_task_change.append(accounting.task_changed)
    cluster.state.on_node_change.append(accounting.node_changed)
    return accounting


def bind(node: str) -> Step:
    return lambda body, now: patches.bind_patch(body, node, now)


def complete(body: TaskBody, now: float) -> Patch:
    return patches.completed_patch(body, now)


def fail(body: TaskBody, now: float) -> Patch:
    return patches.attempt_failed_patch(body, "model crashed", now)


def cancel(body: TaskBody, now: float) -> Patch:
    return patches.cancel_patch(body, "admin", now)


def requeue(body: TaskBody, now: float) -> Patch:
    return patches.requeue_patch(body, "drained", now)


def deliver(body: TaskBody, now: float) -> Patch:
    return {"status": {"callbackDelivered": True}}


def retry(body: TaskBody, now: float) -> Patch:
    return patches.retry_patch(body, now)


def write(cluster: FakeCluster, task_id: str, step: Step) -> None:
    """One status write of the API (or a node through it), then the watch delivers it."""
    body = cluster.task(task_id)
    assert body is not None
    patch = step(bodies.as_task(body), cluster.clock())
    cluster.server.patch(TASKS, bodies.name_of(body), patch, status=True)
    cluster.clock.advance(0.1)
    cluster.sync()


COUNTERS: dict[str, tuple[dict[str, list[Step]], tuple[int, int] | None]] = {
    # task id -> its writes after submission; the node's (completed, failed) written
    "completed twice, failed once": (
        {
            "ok-1": [bind("n1"), complete],
            "ok-2": [bind("n1"), complete],
            "bad-1": [bind("n1"), fail],
        },
        (2, 1),
    ),
    "a failed attempt counts, its successful retry as well": (
        {"flaky": [bind("n1"), fail, bind("n1"), complete]},
        (1, 1),
    ),
    "later writes on a finished task count nothing": (
        {"done": [bind("n1"), complete, deliver]},
        (1, 0),
    ),
    "a retried finished task counts again": (
        {"twice": [bind("n1"), complete, retry, bind("n1"), complete]},
        (2, 0),
    ),
    "cancelled or requeued attempts count nothing": (
        {"stopped": [bind("n1"), cancel], "moved": [bind("n1"), requeue]},
        None,
    ),
    "a node bound but not finished counts nothing": ({"busy": [bind("n1")]}, None),
}


@pytest.mark.parametrize(("writes", "counted"), COUNTERS.values(), ids=COUNTERS.keys())
async def test_node_counters(
    writes: dict[str, list[Step]], counted: tuple[int, int] | None
) -> None:
    cluster = FakeCluster()
    cluster.configure()
    cluster.add_node("n1", agents=4, tasksCompleted=10, tasksFailed=2)
    accounting = accounting_for(cluster)
    for task_id in writes:
        cluster.add_task(task_id, maxRetries=3)
    cluster.sync()
    for task_id, steps in writes.items():
        for step in steps:
            write(cluster, task_id, step)
    await accounting.flush()
    node_patches = cluster.writer.status_patches(NODES)
    if counted is None:
        assert node_patches == []
        return
    completed, failed = 10 + counted[0], 2 + counted[1]
    assert node_patches == [
        (
            "n1",
            {
                "tasksCompleted": completed,
                "tasksFailed": failed,
                "reliabilityScore": reliability_score(completed, failed),
            },
        )
    ]
    assert cluster.writer.calls[0].body is not None
    assert cluster.writer.calls[0].body["metadata"]["resourceVersion"]  # guarded
    await accounting.flush()  # written once
    assert len(cluster.writer.calls) == 1


async def test_counters_lost_to_a_heartbeat_are_written_on_the_next_pass() -> None:
    cluster = FakeCluster()
    cluster.configure()
    cluster.add_node("n1")
    accounting = accounting_for(cluster)
    cluster.add_task("t")
    cluster.sync()
    write(cluster, "t", bind("n1"))
    write(cluster, "t", complete)
    cluster.writer.fail("patch_status", "n1", Conflict(409, "Conflict"))
    await accounting.flush()
    assert [c.outcome for c in cluster.writer.calls] == [409]
    cluster.set_status(NODES, "n1", cpuUsage=50.0)  # the heartbeat that came first
    cluster.sync()
    write(cluster, "t", deliver)
    await accounting.flush()
    assert cluster.node_status("n1")["tasksCompleted"] == 1
    assert cluster.node_status("n1")["cpuUsage"] == 50.0
    cluster.writer.clear()
    await accounting.flush()
    assert cluster.writer.calls == []


async def test_a_new_leader_starts_from_nothing() -> None:
    cluster = FakeCluster()
    cluster.configure()
    cluster.add_node("n1")
    accounting = accounting_for(cluster)
    cluster.add_task("t")
    cluster.sync()
    write(cluster, "t", bind("n1"))
    write(cluster, "t", complete)
    cluster.set_status(NODES, "n1", status="maintenance")
    cluster.sync()
    accounting.reset()  # what was observed before is the previous leader's to write
    await accounting.flush()
    assert cluster.writer.calls == []


EVENTS: dict[str, tuple[str, dict[str, Any], tuple[str, str, str] | None]] = {
    # the node's status before, the status write, the Event (reason, message, type)
    "to maintenance": (
        "active",
        {"status": "maintenance"},
        ("NodeMaintenance", "active -> maintenance", "Normal"),
    ),
    "offline, with the reason": (
        "active",
        {
            "status": "offline",
            "conditions": [
                patches.condition("Ready", False, "HeartbeatMissed", "no heartbeat for 9s", 0.0)
            ],
        },
        ("NodeOffline", "active -> offline: no heartbeat for 9s", "Warning"),
    ),
    "degraded": (
        "active",
        {"status": "degraded"},
        ("NodeDegraded", "active -> degraded", "Warning"),
    ),
    "error": ("maintenance", {"status": "error"}, ("NodeError", "maintenance -> error", "Warning")),
    "back to active": (
        "offline",
        {"status": "active"},
        ("NodeActive", "offline -> active", "Normal"),
    ),
    "no transition: no event": ("active", {"status": "active", "cpuUsage": 3.0}, None),
}


@pytest.mark.parametrize(("before", "status", "event"), EVENTS.values(), ids=EVENTS.keys())
async def test_node_transition_events(
    before: str, status: dict[str, Any], event: tuple[str, str, str] | None
) -> None:
    cluster = FakeCluster()
    cluster.configure()
    cluster.add_node("n1", status=before)
    accounting = accounting_for(cluster)
    cluster.sync()
    cluster.set_status(NODES, "n1", **status)
    cluster.sync()
    await accounting.flush()
    assert cluster.writer.events() == ([("n1", *event)] if event else [])


# -- retention -----------------------------------------------------------------------


def finished(cluster: FakeCluster, task_id: str, step: Step) -> None:
    cluster.add_task(task_id, maxRetries=0)
    cluster.sync()
    write(cluster, task_id, bind("n1"))
    write(cluster, task_id, step)


async def test_retention_deletes_expired_tasks_and_keeps_exact_totals() -> None:
    cluster = FakeCluster()
    cluster.configure(orchestrator={"taskRetention": 2})
    cluster.set_status(ORCHESTRATORS, bodies.ORCHESTRATOR_NAME, tasksCompletedTotal=40)
    cluster.add_node("n1", agents=10)
    accounting = accounting_for(cluster)
    finished(cluster, "ok-1", complete)
    finished(cluster, "ok-2", complete)
    finished(cluster, "bad-1", fail)  # these three within 0.6 s
    cluster.clock.advance(1.0)
    finished(cluster, "cancelled", cancel)  # 1.2 s later
    cluster.add_task("pending")
    cluster.sync()
    assert await accounting.retire() == 0  # nothing finished 2 s ago yet
    assert cluster.writer.calls == []
    cluster.clock.advance(1.0)  # the three finished over 2 s ago, the cancelled one not
    cluster.sync()
    uids = {bodies.name_of(b): b["metadata"]["uid"] for b in cluster.server.objects[TASKS].values()}
    versions = {
        bodies.name_of(b): bodies.resource_version(b)
        for b in cluster.server.objects[TASKS].values()
    }
    assert await accounting.retire() == 3
    [totals] = cluster.writer.done("patch_status", ORCHESTRATORS)
    assert totals.body is not None
    assert totals.body["metadata"]["resourceVersion"]  # guarded
    status = totals.body["status"]
    assert (status["tasksCompletedTotal"], status["tasksFailedTotal"]) == (42, 1)
    assert status["retiringTasks"] == [
        {"name": n, "uid": uids[n]} for n in ("ok-1", "ok-2", "bad-1")
    ]
    deletes = cluster.writer.done("delete")
    assert [(d.name, d.body) for d in deletes] == [
        (n, {"preconditions": {"uid": uids[n], "resourceVersion": versions[n]}})
        for n in ("ok-1", "ok-2", "bad-1")
    ]
    assert set(cluster.server.objects[TASKS]) == {"cancelled", "pending"}
    # the next round clears the list; then the cancelled one goes too
    cluster.writer.clear()
    cluster.sync()
    assert await accounting.retire() == 0
    assert cluster.writer.status_patches(ORCHESTRATORS) == [
        ("web4ai", {"retiringTasks": None, "retiring": None})
    ]
    cluster.clock.advance(1.0)
    cluster.sync()
    assert await accounting.retire() == 1
    orch = cluster.server.objects[ORCHESTRATORS]["web4ai"]["status"]
    assert (orch["tasksCompletedTotal"], orch["tasksFailedTotal"]) == (42, 2)
    assert set(cluster.server.objects[TASKS]) == {"pending"}


async def test_a_half_done_round_is_finished_first_and_a_reused_name_is_left_alone() -> None:
    """A replica that takes over finds retiringTasks written but not every task deleted;
    a task submitted again under a retired name is another object (UID) and stays."""
    cluster = FakeCluster()
    cluster.configure(orchestrator={"taskRetention": 0})
    cluster.add_node("n1", agents=10)
    accounting = accounting_for(cluster)
    finished(cluster, "left", complete)
    cluster.add_task("reused")
    left = cluster.server.objects[TASKS]["left"]["metadata"]["uid"]
    cluster.set_status(
        ORCHESTRATORS,
        bodies.ORCHESTRATOR_NAME,
        tasksCompletedTotal=2,
        retiringTasks=[
            {"name": "left", "uid": left},
            {"name": "reused", "uid": "uid-of-the-old-one"},
        ],
    )
    cluster.sync()
    assert await accounting.retire() == 0
    assert [(c.verb, c.name) for c in cluster.writer.calls] == [("delete", "left")]
    cluster.writer.clear()
    cluster.sync()
    assert await accounting.retire() == 0  # the round is done: cleared, totals untouched
    assert cluster.writer.status_patches(ORCHESTRATORS) == [
        ("web4ai", {"retiringTasks": None, "retiring": None})
    ]
    assert set(cluster.server.objects[TASKS]) == {"reused"}
    assert cluster.server.objects[ORCHESTRATORS]["web4ai"]["status"]["tasksCompletedTotal"] == 2


async def test_a_lost_totals_write_deletes_nothing() -> None:
    cluster = FakeCluster()
    cluster.configure(orchestrator={"taskRetention": 0})
    cluster.add_node("n1")
    accounting = accounting_for(cluster)
    finished(cluster, "done", complete)
    cluster.writer.fail("patch_status", bodies.ORCHESTRATOR_NAME, Conflict(409, "Conflict"))
    assert await accounting.retire() == 0
    assert [(c.verb, c.outcome) for c in cluster.writer.calls] == [("patch_status", 409)]
    assert set(cluster.server.objects[TASKS]) == {"done"}
    cluster.sync()
    assert await accounting.retire() == 1  # the next round counts it, once
    orch = cluster.server.objects[ORCHESTRATORS]["web4ai"]["status"]
    assert orch["tasksCompletedTotal"] == 1


async def test_a_busy_nodes_counters_are_written_at_most_once_an_interval() -> None:
    cluster = FakeCluster()
    cluster.configure()
    cluster.add_node("n1", agents=4)
    accounting = accounting_for(cluster)
    for task_id in ("a", "b", "c"):
        cluster.add_task(task_id)
    cluster.sync()
    write(cluster, "a", bind("n1"))
    write(cluster, "a", complete)
    await accounting.flush()  # the first change is written at once
    write(cluster, "b", bind("n1"))
    write(cluster, "b", complete)
    await accounting.flush()  # within the interval: held
    assert [p[1]["tasksCompleted"] for p in cluster.writer.status_patches(NODES)] == [1]
    cluster.clock.advance(accounting.counters_every)
    write(cluster, "c", bind("n1"))
    write(cluster, "c", complete)
    await accounting.flush()  # due: both held completions in one write
    assert [p[1]["tasksCompleted"] for p in cluster.writer.status_patches(NODES)] == [1, 3]
    assert cluster.node_status("n1")["tasksCompleted"] == 3


async def test_stepping_down_writes_the_held_counters() -> None:
    cluster = FakeCluster()
    cluster.configure()
    cluster.add_node("n1")
    accounting = accounting_for(cluster)
    for task_id in ("a", "b"):
        cluster.add_task(task_id)
    cluster.sync()
    for task_id in ("a", "b"):
        write(cluster, task_id, bind("n1"))
        write(cluster, task_id, complete)
        await accounting.flush()
    assert cluster.node_status("n1")["tasksCompleted"] == 1
    await accounting.flush(force=True)
    assert cluster.node_status("n1")["tasksCompleted"] == 2
