"""The scheduler's unschedulable set, in-process: what a pass looks at and writes while
tasks wait, and which events bring them back."""

from __future__ import annotations

from tests.unit.controllers.fakes import FakeCluster
from tests.unit.controllers.test_scheduler import binds, explanations, one_pass, scheduler_for
from web4ai.core import bodies, patches
from web4ai.core.model import TaskPhase
from web4ai.core.resources import NODES, TASKS
from web4ai.operator.explaining import QUEUED_QUIET
from web4ai.operator.scheduler import Scheduler

GPU = ["gpu_processing"]


def attempts(scheduler: Scheduler) -> float:
    """Decisions that found no node, so far (every task a pass looked at and set aside)."""
    return float(scheduler.metrics.schedule_attempts.labels("unschedulable")._value.get())


async def waiting_cluster(tasks: int = 20) -> tuple[FakeCluster, Scheduler]:
    """A cpu node that is full, and ``tasks`` gpu tasks waiting (explained once)."""
    cluster = FakeCluster()
    cluster.configure()
    cluster.add_node("cpu-1", agents=1)
    cluster.add_task("busy", status={**patches.phase_fields(TaskPhase.RUNNING), "nodeId": "cpu-1"})
    for i in range(tasks):
        cluster.add_task(
            f"gpu-{i:02}", submitted=cluster.clock() + i, requirements={"capabilities": GPU}
        )
    scheduler = scheduler_for(cluster)
    await one_pass(cluster, scheduler)
    assert explanations(cluster) == {}  # merely waiting for a slot: said after the quiet
    cluster.clock.advance(QUEUED_QUIET)
    await one_pass(cluster, scheduler)
    assert len(explanations(cluster)) == tasks
    assert len(scheduler.queue) == tasks
    cluster.writer.clear()
    return cluster, scheduler


async def test_waiting_tasks_are_not_looked_at_or_rewritten_while_nothing_helps() -> None:
    cluster, scheduler = await waiting_cluster()
    looked = attempts(scheduler)
    for i in range(10):
        cluster.clock.advance(11.0)
        cluster.set_status(NODES, bodies.name_of(cluster.node("cpu-1") or {}), cpuUsage=float(i))
        cluster.add_node(f"down-{i}", status="offline")  # a node that cannot take them
        await one_pass(cluster, scheduler)
    assert cluster.writer.calls == []  # no condition rewritten on a timer
    assert attempts(scheduler) == looked  # and no pass looked at them again
    assert len(scheduler.queue) == 20


async def test_a_node_that_can_take_them_drains_them_in_order() -> None:
    cluster, scheduler = await waiting_cluster()
    cluster.add_node("gpu-1", agents=5, capabilities=GPU)
    await one_pass(cluster, scheduler)
    assert binds(cluster) == {f"gpu-{i:02}": "gpu-1" for i in range(5)}
    assert len(scheduler.queue) == 15
    # each task finishing frees a slot: the next one in order, and only it, comes back
    for step in range(3):
        cluster.writer.clear()
        done = cluster.task(f"gpu-{step:02}")
        assert done is not None
        cluster.set_status(TASKS, bodies.name_of(done), **patches.phase_fields(TaskPhase.COMPLETED))
        looked = attempts(scheduler)
        await one_pass(cluster, scheduler)
        assert binds(cluster) == {f"gpu-{5 + step:02}": "gpu-1"}
        assert attempts(scheduler) == looked
    assert len(scheduler.queue) == 12


async def test_a_slot_freed_on_a_node_they_cannot_use_moves_nothing() -> None:
    cluster, scheduler = await waiting_cluster()
    busy = cluster.task("busy")
    assert busy is not None
    cluster.set_status(TASKS, bodies.name_of(busy), **patches.phase_fields(TaskPhase.COMPLETED))
    looked = attempts(scheduler)
    await one_pass(cluster, scheduler)
    assert attempts(scheduler) == looked and cluster.writer.calls == []


async def test_new_settings_try_every_waiting_task_again() -> None:
    cluster, scheduler = await waiting_cluster(3)
    cluster.configure(performance={"cpuThreshold": 70.0})
    await one_pass(cluster, scheduler)
    assert attempts(scheduler) == 6  # three at first, three again
    assert cluster.writer.calls == []  # the same reason: nothing to write


async def test_the_slow_flush_tries_again_and_the_message_follows() -> None:
    cluster, scheduler = await waiting_cluster(2)
    cluster.add_node("down", status="offline", agents=4)
    await one_pass(cluster, scheduler)
    assert cluster.writer.calls == []
    cluster.clock.advance(400.0)
    await one_pass(cluster, scheduler)
    messages = {m for _, m in explanations(cluster).values()}
    assert messages == {"0/2 nodes fit: 1 at capacity, 1 node is offline"}
    assert len(cluster.writer.calls) == 2


async def test_a_deleted_or_cancelled_task_leaves_the_set() -> None:
    cluster, scheduler = await waiting_cluster(2)
    first, second = cluster.task("gpu-00"), cluster.task("gpu-01")
    assert first is not None and second is not None
    cluster.set_status(TASKS, bodies.name_of(first), **patches.phase_fields(TaskPhase.CANCELLED))
    del cluster.server.objects[TASKS][bodies.name_of(second)]
    cluster.sync()
    assert len(scheduler.queue) == 0
    cluster.add_node("gpu-1", agents=5, capabilities=GPU)
    await one_pass(cluster, scheduler)
    assert binds(cluster) == {}


async def test_a_task_bound_within_the_quiet_time_costs_no_condition_write() -> None:
    """A burst on full nodes: a task that merely waited for a slot and got one within
    QUEUED_QUIET is bound with one write, its Queued condition never written."""
    cluster = FakeCluster()
    cluster.configure()
    cluster.add_node("solo", agents=1)
    cluster.add_task("first")
    cluster.add_task("second", submitted=cluster.clock() + 1)
    scheduler = scheduler_for(cluster)
    await one_pass(cluster, scheduler)
    assert binds(cluster) == {"first": "solo"}
    first = cluster.task("first")
    assert first is not None
    cluster.clock.advance(QUEUED_QUIET / 2)
    cluster.set_status(TASKS, bodies.name_of(first), **patches.phase_fields(TaskPhase.COMPLETED))
    await one_pass(cluster, scheduler)
    assert binds(cluster) == {"first": "solo", "second": "solo"}
    cluster.clock.advance(QUEUED_QUIET)
    await one_pass(cluster, scheduler)
    assert explanations(cluster) == {}
    assert [c.verb for c in cluster.writer.calls] == ["patch_status", "patch_status"]
