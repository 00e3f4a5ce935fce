"""Task clocks in-process, on the fake clock: an attempt's timeout and the deadline.
Formerly (in part) tests/integration/test_operator_lifecycle.py, which waited for them."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.controllers.fakes import FakeCluster
from tests.unit.controllers.test_scheduler import binds, scheduler_for
from web4ai.core import bodies, patches
from web4ai.core.model import TaskPhase
from web4ai.k8s.errors import Invalid
from web4ai.operator.timekeeping import Timekeeper

Body = dict[str, Any]


def timekeeper_for(cluster: FakeCluster) -> Timekeeper:
    timekeeper = Timekeeper(cluster.state, cluster.writer, cluster.clock, guard=cluster.guard())
    timekeeper.subscribe()
    return timekeeper


def bound(cluster: FakeCluster, node: str, phase: TaskPhase, retries: int = 0) -> Body:
    at = bodies.format_time(cluster.clock())
    return {
        **patches.phase_fields(phase),
        "nodeId": node,
        "assignedNodes": [node],
        "assignedAt": at,
        "retryCount": retries,
        "attempts": [{"nodeId": node, "assignedAt": at}],
    }


Written = tuple[str, int, str] | None  # phase, retry count, error message ("deadline...")
ROWS: dict[str, tuple[str | None, int, dict[str, Any], float, Written]] = {
    # the task's phase (None: as submitted), retries so far, spec, seconds later, written
    "assigned, within its timeout": ("assigned", 0, {"timeout": 10}, 10.0, None),
    "assigned, past its timeout: retried": (
        "assigned",
        0,
        {"timeout": 10, "maxRetries": 2},
        10.5,
        ("retrying", 1, "timed out after 10s on n1"),
    ),
    "running, past its timeout: retried": (
        "running",
        0,
        {"timeout": 10, "maxRetries": 2},
        11.0,
        ("retrying", 1, "timed out after 10s on n1"),
    ),
    "past its timeout with no retry left: failed with the last error": (
        "running",
        2,
        {"timeout": 10, "maxRetries": 2},
        11.0,
        ("failed", 2, "timed out after 10s on n1 (after 2 retries)"),
    ),
    "the default timeout is 300 s": ("running", 0, {}, 299.0, None),
    "past the default timeout": (
        "running",
        0,
        {},
        301.0,
        ("retrying", 1, "timed out after 300s on n1"),
    ),
    "pending tasks have no timeout": ("queued", 0, {"timeout": 1}, 3600.0, None),
    "pending, past the deadline: failed without retry": (
        None,
        0,
        {"deadline_in": 5, "maxRetries": 5},
        5.5,
        ("failed", 0, "deadline"),
    ),
    "pending, before the deadline": (None, 0, {"deadline_in": 5}, 4.5, None),
    "running, past the deadline: failed without retry": (
        "running",
        0,
        {"deadline_in": 5, "timeout": 3600, "maxRetries": 5},
        6.0,
        ("failed", 0, "deadline"),
    ),
    "finished tasks are not looked at": (
        "completed",
        0,
        {"deadline_in": 1, "timeout": 1},
        3600.0,
        None,
    ),
}


@pytest.mark.parametrize(
    ("phase", "retries", "spec", "later", "written"), ROWS.values(), ids=ROWS.keys()
)
async def test_task_clocks(
    phase: str | None, retries: int, spec: dict[str, Any], later: float, written: Written
) -> None:
    cluster = FakeCluster()
    cluster.configure()
    cluster.add_node("n1")
    spec = dict(spec)
    if "deadline_in" in spec:
        spec["deadline"] = cluster.clock() + spec.pop("deadline_in")
    status: Body | None = None
    if phase == "queued":
        status = patches.phase_fields(TaskPhase.QUEUED)
    elif phase is not None:
        status = bound(cluster, "n1", TaskPhase(phase), retries)
        if phase == "completed":
            status["completedAt"] = status["assignedAt"]
    cluster.add_task("clocked", status=status, **spec)
    cluster.clock.advance(later)
    cluster.sync()
    await timekeeper_for(cluster).run_once()
    status_patches = cluster.writer.status_patches()
    if written is None:
        assert status_patches == []
        return
    phase, retries, message = written
    [(_, patch)] = status_patches
    assert (patch["phase"], patch["retryCount"]) == (phase, retries)
    if message == "deadline":
        assert patch["errorMessage"].startswith("deadline ") and "passed" in patch["errorMessage"]
    else:
        assert patch["errorMessage"] == message
    if phase == "failed":
        assert patch["completedAt"] == bodies.format_time(cluster.clock())
    else:
        assert patch["nodeId"] is None and patch["assignedNodes"] == []
    if patch["attempts"]:
        assert patch["attempts"][-1]["outcome"] == "failed"
        assert patch["attempts"][-1]["finishedAt"] == bodies.format_time(cluster.clock())


async def test_a_timed_out_task_is_retried_on_another_node_then_fails_with_the_last_error() -> None:
    """Timekeeper and scheduler together, as the operator's pass runs them."""
    cluster = FakeCluster()
    cluster.configure()
    cluster.add_node("slow-a", agents=1)
    cluster.add_node("slow-b", agents=1)
    cluster.add_task("stuck", timeout=1, maxRetries=2)
    scheduler, timekeeper = scheduler_for(cluster), timekeeper_for(cluster)
    for _ in range(4):
        cluster.sync()
        await timekeeper.run_once()
        await scheduler.run_once()
        await scheduler.drain()
        cluster.clock.advance(1.5)
    status = cluster.task_status("stuck")
    nodes = [a["nodeId"] for a in status["attempts"]]
    assert len(nodes) == 3
    assert nodes[0] != nodes[1] and nodes[1] != nodes[2]  # another node each time
    assert (status["phase"], status["retryCount"]) == ("failed", 2)
    assert status["errorMessage"] == f"timed out after 1s on {nodes[2]} (after 2 retries)"
    assert all(a["outcome"] == "failed" for a in status["attempts"])
    assert binds(cluster) == {"stuck": nodes[2]}  # name -> its last binding


async def test_a_failing_write_is_retried_on_a_later_pass_and_the_others_go_on() -> None:
    cluster = FakeCluster()
    cluster.configure()
    names = [
        bodies.name_of(cluster.add_task(t, deadline=cluster.clock() + 1)) for t in ("a", "b", "c")
    ]
    cluster.writer.fail("patch_status", names[1], Invalid(422, "Invalid"))
    cluster.clock.advance(2.0)
    cluster.sync()
    timekeeper = timekeeper_for(cluster)
    await timekeeper.run_once()
    assert {c.name: c.outcome for c in cluster.writer.calls} == {
        names[0]: "ok",
        names[1]: 422,
        names[2]: "ok",
    }
    cluster.writer.clear()
    cluster.sync()
    await timekeeper.run_once()  # backing off
    assert cluster.writer.calls == []
    cluster.clock.advance(1.5)
    await timekeeper.run_once()
    assert [(c.name, c.outcome) for c in cluster.writer.calls] == [(names[1], "ok")]
    assert cluster.task_status("b")["phase"] == "failed"
