"""Scheduler passes in-process: which task goes to which node, from the recorded writes.

Each row sets up nodes and tasks on the fake API server, lets the watch cache catch up,
runs one pass and waits for its writes. Formerly tests/integration/test_operator_scheduling.py
(with a real operator process and wall-clock waits)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.unit.controllers.fakes import FakeCluster
from web4ai.core import bodies, patches
from web4ai.core.model import TaskPhase
from web4ai.core.resources import NODES, TASKS
from web4ai.k8s.errors import Conflict, Invalid
from web4ai.operator.explaining import QUEUED_QUIET
from web4ai.operator.scheduler import FLUSH_CHECK, UNSCHEDULABLE_FLUSH, Scheduler

Body = dict[str, Any]


def scheduler_for(cluster: FakeCluster, **kw: Any) -> Scheduler:
    s = Scheduler(cluster.state, cluster.writer, cluster.clock, guard=cluster.guard(), **kw)
    s.subscribe()
    return s


async def one_pass(cluster: FakeCluster, scheduler: Scheduler) -> int:
    cluster.sync()
    started = await scheduler.run_once()
    await scheduler.drain()
    return started


def binds(cluster: FakeCluster) -> dict[str, str]:
    """task id -> node id of every binding written."""
    out = {}
    for name, status in cluster.writer.status_patches():
        if status.get("phase") == TaskPhase.ASSIGNED.value:
            body = cluster.server.objects[TASKS][name]
            out[body["spec"]["taskId"]] = status["nodeId"]
    return out


def explanations(cluster: FakeCluster) -> dict[str, tuple[str, str]]:
    """task id -> (reason, message) of every Scheduled=False condition written."""
    out = {}
    for name, status in cluster.writer.status_patches():
        for c in status.get("conditions") or []:
            if c["type"] == "Scheduled" and c["status"] == "False":
                task_id = cluster.server.objects[TASKS][name]["spec"]["taskId"]
                out[task_id] = (c["reason"], c["message"])
    return out


def retrying_after(*nodes: str) -> Body:
    """The status of a task whose attempts on ``nodes`` failed: pending again."""
    attempts = [
        {"nodeId": n, "assignedAt": "2023-11-14T22:00:00Z", "finishedAt": "2023-11-14T22:01:00Z"}
        | {"outcome": "failed", "errorMessage": "boom"}
        for n in nodes
    ]
    return {
        **patches.phase_fields(TaskPhase.RETRYING),
        "retryCount": len(nodes),
        "attempts": attempts,
    }


def bound_to(node: str, phase: TaskPhase = TaskPhase.ASSIGNED) -> Body:
    return {**patches.phase_fields(phase), "nodeId": node, "assignedNodes": [node]}


@dataclass(frozen=True)
class Row:
    nodes: dict[str, dict[str, Any]]  # node id -> add_node keywords
    tasks: dict[str, dict[str, Any]]  # task id -> add_task keywords (spec, status=)
    binds: dict[str, str]  # task id -> node id, every binding written
    waiting: dict[str, tuple[str, str]] = field(default_factory=dict)  # explained
    config: dict[str, Any] = field(default_factory=dict)


GPU, CPU = ["gpu_processing"], ["data_processing"]
ROWS = {
    "priority order with a single free slot": Row(
        nodes={"solo": {"agents": 1}},
        tasks={"low": {"priority": 5}, "normal": {"priority": 3}, "critical": {"priority": 1}},
        binds={"critical": "solo"},
        waiting={
            "low": ("Queued", "0/1 nodes fit: 1 at capacity"),
            "normal": ("Queued", "0/1 nodes fit: 1 at capacity"),
        },
    ),
    "same priority: first submitted first": Row(
        nodes={"solo": {"agents": 1}},
        tasks={"second": {"submitted_offset": 1.0}, "first": {}},
        binds={"first": "solo"},
        waiting={"second": ("Queued", "0/1 nodes fit: 1 at capacity")},
    ),
    "capabilities, exclusions and preferred nodes": Row(
        nodes={
            "gpu-1": {"capabilities": GPU, "agents": 4},
            "cpu-1": {"capabilities": CPU, "agents": 4},
            "cpu-2": {"capabilities": CPU, "agents": 4},
        },
        tasks={
            "needs-gpu": {"requirements": {"capabilities": GPU}},
            "not-cpu-1": {"requirements": {"capabilities": CPU, "excludeNodes": ["cpu-1"]}},
            "likes-cpu-1": {"requirements": {"preferredNodes": ["cpu-1"]}},
            "impossible": {"requirements": {"capabilities": ["quantum"]}},
        },
        binds={"needs-gpu": "gpu-1", "not-cpu-1": "cpu-2", "likes-cpu-1": "cpu-1"},
        waiting={"impossible": ("Unschedulable", "0/3 nodes fit: 3 missing capabilities quantum")},
    ),
    "a node in maintenance gets nothing": Row(
        nodes={"m-1": {"status": "maintenance", "agents": 2}},
        tasks={"waits": {}},
        binds={},
        waiting={"waits": ("Unschedulable", "0/1 nodes fit: 1 node is maintenance")},
    ),
    "a draining node gets nothing": Row(
        nodes={"d-1": {"agents": 2, "draining": {"requestedAt": "2023-11-14T22:00:00Z"}}},
        tasks={"waits": {}},
        binds={},
        waiting={"waits": ("Unschedulable", "0/1 nodes fit: 1 node is maintenance")},
    ),
    "an offline node gets nothing": Row(
        nodes={"gone": {"status": "offline", "agents": 2}, "here": {"agents": 1}},
        tasks={"a": {}, "b": {"submitted_offset": 1.0}},
        binds={"a": "here"},
        waiting={"b": ("Unschedulable", "0/2 nodes fit: 1 at capacity, 1 node is offline")},
    ),
    "no nodes at all": Row(
        nodes={},
        tasks={"alone": {}},
        binds={},
        waiting={"alone": ("Unschedulable", "0/0 nodes fit: no nodes registered")},
    ),
    "paused: nothing is assigned or explained": Row(
        nodes={"idle": {"agents": 5}},
        tasks={f"queued-{i}": {} for i in range(3)},
        binds={},
        config={"paused": True},
    ),
    "capacity: a node takes as many as its agents": Row(
        nodes={"pair": {"agents": 2}},
        tasks={"t1": {}, "t2": {"submitted_offset": 1.0}, "t3": {"submitted_offset": 2.0}},
        binds={"t1": "pair", "t2": "pair"},
        waiting={"t3": ("Queued", "0/1 nodes fit: 1 at capacity")},
    ),
    "tasks already bound count against capacity": Row(
        nodes={"busy": {"agents": 2}, "free": {"agents": 1}},
        tasks={
            "running": {"status": bound_to("busy", TaskPhase.RUNNING)},
            "assigned": {"status": bound_to("busy")},
            "new": {"requirements": {"preferredNodes": ["busy"]}},
        },
        binds={"new": "free"},
    ),
    "finished tasks free their slot": Row(
        nodes={"solo": {"agents": 1}},
        tasks={
            "done": {"status": {**bound_to("solo"), **patches.phase_fields(TaskPhase.COMPLETED)}},
            "new": {},
        },
        binds={"new": "solo"},
    ),
    "degraded only when no active node fits": Row(
        nodes={"sick": {"status": "degraded", "agents": 4}, "well": {"agents": 1}},
        tasks={"a": {}, "b": {"submitted_offset": 1.0}},
        binds={"a": "well", "b": "sick"},
    ),
    "a retried task goes to a node it has not run on": Row(
        nodes={"n1": {"agents": 4}, "n2": {"agents": 4}, "n3": {"agents": 4}},
        tasks={
            "again": {
                "status": retrying_after("n1", "n2"),
                "requirements": {"preferredNodes": ["n1", "n2", "n3"]},
            }
        },
        binds={"again": "n3"},
    ),
    "latency_optimized prefers the nearest node": Row(
        nodes={
            "near": {"agents": 10, "networkLatency": 1.0, "cpuUsage": 70.0},
            "roomy": {"agents": 10, "networkLatency": 50.0, "cpuUsage": 5.0},
        },
        tasks={"first": {}},
        binds={"first": "near"},
        config={"network": {"loadBalanceAlgorithm": "latency_optimized"}},
    ),
    "resource_aware prefers the least loaded node": Row(
        nodes={
            "near": {"agents": 10, "networkLatency": 1.0, "cpuUsage": 70.0},
            "roomy": {"agents": 10, "networkLatency": 50.0, "cpuUsage": 5.0},
        },
        tasks={"second": {}},
        binds={"second": "roomy"},
        config={"network": {"loadBalanceAlgorithm": "resource_aware"}},
    ),
}


@pytest.mark.parametrize("row", ROWS.values(), ids=ROWS.keys())
async def test_one_pass(row: Row) -> None:
    cluster = FakeCluster()
    cluster.configure(**row.config)
    for node_id, kw in row.nodes.items():
        cluster.add_node(node_id, **kw)
    for task_id, kw in row.tasks.items():
        kw = dict(kw)
        submitted = cluster.clock() + kw.pop("submitted_offset", 0.0)
        cluster.add_task(task_id, submitted=submitted, **kw)
    scheduler = scheduler_for(cluster)
    started = await one_pass(cluster, scheduler)
    assert binds(cluster) == row.binds
    assert started == scheduler.bound == len(row.binds)
    # a task that fits no node is explained at once; one merely waiting for a free slot
    # (Queued) once it has waited QUEUED_QUIET, so a burst bound within it costs no write
    assert explanations(cluster) == {t: w for t, w in row.waiting.items() if w[0] != "Queued"}
    cluster.clock.advance(QUEUED_QUIET)
    await one_pass(cluster, scheduler)
    assert binds(cluster) == row.binds
    assert explanations(cluster) == row.waiting
    # the writes are guarded, one per task, and the server took every one
    assert all(c.outcome == "ok" for c in cluster.writer.calls)
    names = [c.name for c in cluster.writer.calls]
    assert len(names) == len(set(names))
    for call in cluster.writer.calls:
        assert call.verb == "patch_status" and call.body is not None
        assert call.body["metadata"]["resourceVersion"]
    # a second pass once the watch caught up changes nothing
    cluster.writer.clear()
    cluster.clock.advance(1.0)
    await one_pass(cluster, scheduler)
    assert cluster.writer.calls == []


async def test_nothing_is_bound_twice_while_the_writes_are_in_flight() -> None:
    """Assumed bindings count against their node until the watch shows them."""
    cluster = FakeCluster()
    cluster.configure()
    cluster.add_node("solo", agents=1)
    cluster.add_task("first")
    scheduler = scheduler_for(cluster)
    cluster.sync()
    assert await scheduler.run_once() == 1  # the write is started, not yet sent
    cluster.add_task("second", submitted=cluster.clock() + 1)
    cluster.sync()  # the watch brings the new task, not yet the binding
    scheduler.note()
    assert await scheduler.run_once() == 0  # the slot is taken by the assumed binding
    await scheduler.drain()
    assert binds(cluster) == {"first": "solo"}
    assert len(cluster.writer.done("patch_status")) == 1  # the binding; Queued waits
    cluster.sync()
    cluster.clock.advance(QUEUED_QUIET)
    await scheduler.run_once()
    await scheduler.drain()
    assert len(cluster.writer.done("patch_status")) == 2  # the binding and Queued
    assert explanations(cluster) == {"second": ("Queued", "0/1 nodes fit: 1 at capacity")}


async def test_a_task_decided_twice_before_its_write_returns_is_written_once() -> None:
    cluster = FakeCluster()
    cluster.configure()
    cluster.add_node("roomy", agents=10)
    for i in range(5):
        cluster.add_task(f"t{i}")
    scheduler = scheduler_for(cluster)
    cluster.sync()
    assert await scheduler.run_once() == 5
    for _ in range(3):
        scheduler.note()
        assert await scheduler.run_once() == 0  # all assumed: nothing pending
    await scheduler.drain()
    assert len(cluster.writer.calls) == 5
    assert binds(cluster) == {f"t{i}": "roomy" for i in range(5)}


async def test_a_conflicting_write_frees_the_slot_for_the_next_pass() -> None:
    cluster = FakeCluster()
    cluster.configure()
    cluster.add_node("solo", agents=1)
    name = bodies.name_of(cluster.add_task("contested"))
    cluster.writer.fail("patch_status", name, Conflict(409, "Conflict"))
    scheduler = scheduler_for(cluster)
    assert await one_pass(cluster, scheduler) == 1
    assert [c.outcome for c in cluster.writer.calls] == [409]
    assert scheduler.bound == 0 and binds(cluster) == {}
    await one_pass(cluster, scheduler)  # not backing off: a 409 is no error
    assert binds(cluster) == {"contested": "solo"}


async def test_a_failing_write_backs_off_by_the_clock() -> None:
    cluster = FakeCluster()
    cluster.configure()
    cluster.add_node("solo", agents=1)
    name = bodies.name_of(cluster.add_task("rejected"))
    cluster.writer.fail("patch_status", name, Invalid(422, "Invalid"))
    scheduler = scheduler_for(cluster)
    await one_pass(cluster, scheduler)
    assert [c.outcome for c in cluster.writer.calls] == [422]
    cluster.clock.advance(0.6)  # a full pass runs, but the task backs off for 1 s
    await one_pass(cluster, scheduler)
    assert len(cluster.writer.calls) == 1
    cluster.clock.advance(0.6)
    await one_pass(cluster, scheduler)
    assert binds(cluster) == {"rejected": "solo"}


async def test_a_write_decided_before_the_task_changed_is_not_sent() -> None:
    cluster = FakeCluster()
    cluster.configure()
    cluster.add_node("solo", agents=1)
    name = bodies.name_of(cluster.add_task("moving"))
    scheduler = scheduler_for(cluster)
    cluster.sync()
    assert await scheduler.run_once() == 1  # decided, the write not yet sent
    cluster.set_status(TASKS, name, **patches.phase_fields(TaskPhase.CANCELLED))
    cluster.sync()
    await scheduler.drain()
    assert cluster.writer.calls == []
    assert scheduler.bound == 0


async def test_a_replica_that_is_not_leading_sends_nothing() -> None:
    cluster = FakeCluster()
    cluster.configure()
    cluster.add_node("solo", agents=1)
    cluster.add_task("t")
    scheduler = scheduler_for(cluster, active=lambda: False)
    await one_pass(cluster, scheduler)
    assert cluster.writer.calls == []


async def test_a_change_of_algorithm_applies_to_the_next_decision() -> None:
    cluster = FakeCluster()
    cluster.configure(network={"loadBalanceAlgorithm": "latency_optimized"})
    cluster.add_node("near", agents=10, networkLatency=1.0, cpuUsage=70.0)
    cluster.add_node("roomy", agents=10, networkLatency=50.0, cpuUsage=5.0)
    cluster.add_task("first")
    scheduler = scheduler_for(cluster)
    await one_pass(cluster, scheduler)
    cluster.configure(network={"loadBalanceAlgorithm": "resource_aware"})
    cluster.add_task("second")
    await one_pass(cluster, scheduler)
    assert binds(cluster) == {"first": "near", "second": "roomy"}


async def test_stop_assigns_nothing_and_start_resumes() -> None:
    cluster = FakeCluster()
    cluster.configure(paused=True)
    cluster.add_node("idle", agents=5)
    for i in range(3):
        cluster.add_task(f"queued-{i}")
    scheduler = scheduler_for(cluster)
    for _ in range(3):
        await one_pass(cluster, scheduler)
        cluster.clock.advance(1.0)
    assert cluster.writer.calls == []
    cluster.configure(paused=False)
    await one_pass(cluster, scheduler)
    assert binds(cluster) == {f"queued-{i}": "idle" for i in range(3)}


async def test_a_waiting_task_is_explained_again_only_when_the_reason_changes() -> None:
    cluster = FakeCluster()
    cluster.configure()
    cluster.add_node("m-1", status="maintenance")
    cluster.add_task("waits")
    scheduler = scheduler_for(cluster)
    await one_pass(cluster, scheduler)
    assert len(cluster.writer.calls) == 1
    for _ in range(3):  # nothing that could help: not looked at, nothing written
        cluster.clock.advance(11.0)
        await one_pass(cluster, scheduler)
    assert len(cluster.writer.calls) == 1
    cluster.add_node("m-2", status="offline")  # cannot help either
    await one_pass(cluster, scheduler)
    assert len(cluster.writer.calls) == 1
    cluster.clock.advance(UNSCHEDULABLE_FLUSH + FLUSH_CHECK)  # the slow flush tries again
    await one_pass(cluster, scheduler)
    assert explanations(cluster)["waits"] == (
        "Unschedulable",
        "0/2 nodes fit: 1 node is maintenance, 1 node is offline",
    )
    cluster.set_status(NODES, "m-1", status="active")
    await one_pass(cluster, scheduler)
    assert binds(cluster) == {"waits": "m-1"}


async def test_a_free_slot_goes_to_a_task_warm_there_before_an_older_cold_one() -> None:
    """Routing's first round: the older task's model is loaded nowhere (it would load
    cold at once), the newer one's is loaded on the node's one agent: the newer wins
    the slot, the older waits for one."""
    cluster = FakeCluster()
    node = cluster.add_node("n", agents=1)
    agent = {"agentId": "a0", "specializedModels": ["m1", "m2"], "loadedModels": ["m1"]}
    cluster.set_status(NODES, node["metadata"]["name"], agents=[agent])
    cluster.add_task("wants-m2", requirements={"model": "m2"})
    cluster.add_task("wants-m1", submitted=cluster.clock() + 1.0, requirements={"model": "m1"})
    scheduler = scheduler_for(cluster)
    await one_pass(cluster, scheduler)
    assert binds(cluster) == {"wants-m1": "n"}
    # with routing off, the order alone decides
    cluster = FakeCluster()
    cluster.configure(network={"modelAwareRouting": False})
    node = cluster.add_node("n", agents=1)
    cluster.set_status(NODES, node["metadata"]["name"], agents=[agent])
    cluster.add_task("wants-m2", requirements={"model": "m2"})
    cluster.add_task("wants-m1", submitted=cluster.clock() + 1.0, requirements={"model": "m1"})
    await one_pass(cluster, scheduler_for(cluster))
    assert binds(cluster) == {"wants-m2": "n"}
