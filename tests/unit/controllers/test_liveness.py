"""Node liveness in-process, on the fake clock: lease expiry, requeues, disruption mode,
drains, deletion and the move of old Leases, asserted on the recorded writes."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.unit.controllers.fakes import FakeCluster
from tests.unit.controllers.objects import NOW, lease_body
from web4ai.core import bodies, patches
from web4ai.core.ids import IdKind, identity
from web4ai.core.model import TaskPhase
from web4ai.core.resources import LEASES, NODES, TASKS
from web4ai.k8s.errors import Conflict
from web4ai.operator.liveness import NODE_LOST, Liveness

Body = dict[str, Any]
INTERVAL = 1.0  # heartbeat_interval: a node is offline after 3 s of silence


def liveness_for(cluster: FakeCluster) -> Liveness:
    return Liveness(cluster.state, cluster.writer, cluster.clock, guard=cluster.guard())


def bound_to(node: str, phase: TaskPhase = TaskPhase.ASSIGNED, **extra: Any) -> Body:
    attempt = {"nodeId": node, "assignedAt": bodies.format_time(cluster_start())}
    return {
        **patches.phase_fields(phase),
        "nodeId": node,
        "assignedNodes": [node],
        "assignedAt": bodies.format_time(cluster_start()),
        "attempts": [attempt],
        **extra,
    }


def cluster_start() -> float:
    return NOW


def ready(status: Body) -> Body:
    conditions: dict[str, Body] = {c["type"]: c for c in status.get("conditions") or []}
    return conditions["Ready"]


@dataclass(frozen=True)
class Row:
    silent: float  # seconds since the silent nodes' last sign of life
    nodes: dict[str, dict[str, Any]]  # node id -> add_node keywords; "alive": renews
    tasks: dict[str, Body] = field(default_factory=dict)  # task id -> status
    offline: dict[str, str] = field(default_factory=dict)  # node id -> status written
    requeued: dict[str, tuple[str, int]] = field(default_factory=dict)  # task -> phase, retries
    spec: dict[str, Any] = field(default_factory=dict)  # task spec for every task


ROWS = {
    "silent for less than 3 intervals: nothing": Row(
        silent=2.9,
        nodes={"quiet": {}},
        tasks={"held": bound_to("quiet")},
    ),
    "silent for 3 intervals: offline, its task requeued": Row(
        silent=3.1,
        nodes={"doomed": {}, "survivor": {"alive": True}},
        tasks={"moving": bound_to("doomed"), "stays": bound_to("survivor")},
        offline={"doomed": "offline"},
        requeued={"moving": ("retrying", 1)},
    ),
    "a running task is requeued as well": Row(
        silent=10,
        nodes={"doomed": {}},
        tasks={"running": bound_to("doomed", TaskPhase.RUNNING)},
        offline={"doomed": "offline"},
        requeued={"running": ("retrying", 1)},
    ),
    "a lost node's last retry fails the task": Row(
        silent=10,
        nodes={"doomed": {}},
        tasks={"last": bound_to("doomed", retryCount=0)},
        offline={"doomed": "offline"},
        requeued={"last": ("failed", 0)},
        spec={"maxRetries": 0},
    ),
    "finished and pending tasks stay as they are": Row(
        silent=10,
        nodes={"doomed": {}},
        tasks={
            "done": {**bound_to("doomed"), **patches.phase_fields(TaskPhase.COMPLETED)},
            "pending": patches.phase_fields(TaskPhase.QUEUED),
        },
        offline={"doomed": "offline"},
    ),
    "an admin's maintenance holds the status, the tasks still move": Row(
        silent=10,
        nodes={"parked": {"status": "maintenance", "adminStatus": "maintenance"}},
        tasks={"held": bound_to("parked")},
        offline={"parked": "maintenance"},
        requeued={"held": ("retrying", 1)},
    ),
    "a node without a lease lives on its heartbeats": Row(
        silent=2.0,
        nodes={"leaseless": {"lease": False}},
    ),
    "a task on a node nobody knows is requeued": Row(
        silent=0,
        nodes={},
        tasks={"orphan": bound_to("vanished")},
        requeued={"orphan": ("retrying", 1)},
    ),
}


@pytest.mark.parametrize("row", ROWS.values(), ids=ROWS.keys())
async def test_lease_expiry(row: Row) -> None:
    cluster = FakeCluster()
    cluster.configure(orchestrator={"heartbeatInterval": INTERVAL})
    for node_id, kw in row.nodes.items():
        kw = {k: v for k, v in kw.items() if k != "alive"}
        cluster.add_node(node_id, **kw)
    for task_id, status in row.tasks.items():
        cluster.add_task(task_id, status=status, **row.spec)
    cluster.clock.advance(row.silent)
    for node_id, kw in row.nodes.items():
        if kw.get("alive"):
            cluster.renew(node_id)
    cluster.sync()
    await liveness_for(cluster).run_once()

    node_writes = {
        cluster.server.objects[NODES][name]["spec"]["nodeId"]: status
        for name, status in cluster.writer.status_patches(NODES)
    }
    assert {n: s["status"] for n, s in node_writes.items()} == row.offline
    for status in node_writes.values():
        cond = ready(status)
        assert (cond["status"], cond["reason"]) == ("False", "HeartbeatMissed")
        assert cond["message"] == f"no heartbeat for {row.silent:.0f}s (3 x heartbeat_interval 1s)"
    task_writes = {
        cluster.server.objects[TASKS][name]["spec"]["taskId"]: status
        for name, status in cluster.writer.status_patches(TASKS)
    }
    assert {t: (s["phase"], s["retryCount"]) for t, s in task_writes.items()} == row.requeued
    for status in task_writes.values():
        assert status["attempts"][-1]["outcome"] == "failed"
        assert status["attempts"][-1]["errorMessage"] == NODE_LOST
        if status["phase"] == "retrying":
            assert status["nodeId"] is None and status["assignedNodes"] == []
    # every write was guarded by the version it was decided on
    assert all(c.outcome == "ok" for c in cluster.writer.calls)


async def test_a_heartbeat_of_the_lease_keeps_the_node_and_a_foreign_lease_does_not() -> None:
    cluster = FakeCluster()
    cluster.configure(orchestrator={"heartbeatInterval": INTERVAL})
    cluster.add_node("beating")
    cluster.add_node("squatted", lease=False)
    # a Lease with the squatted node's name, labelled for another node: not its heartbeat
    other = lease_body("other", cluster.clock(), name=lease_body("squatted", 0)["metadata"]["name"])
    cluster.server.create(LEASES, other)
    for _ in range(5):
        cluster.clock.advance(1.0)
        cluster.renew("beating")
        foreign = f"web4ai-node-{identity(IdKind.NODE, 'squatted').name}"
        renewed = {"spec": {"renewTime": bodies.format_time(cluster.clock())}}
        cluster.server.patch(LEASES, foreign, renewed)  # the foreign Lease: renewed as well
        cluster.sync()
        await liveness_for(cluster).run_once()
    assert [c.name for c in cluster.writer.done("patch_status")] == ["squatted"]
    assert cluster.node_status("squatted")["status"] == "offline"
    assert cluster.node_status("beating")["status"] == "active"


async def test_an_offline_node_is_written_once() -> None:
    cluster = FakeCluster()
    cluster.configure(orchestrator={"heartbeatInterval": INTERVAL})
    cluster.add_node("doomed")
    liveness = liveness_for(cluster)
    for _ in range(3):
        cluster.clock.advance(5.0)
        cluster.sync()
        await liveness.run_once()
    assert len(cluster.writer.calls) == 1


async def test_a_node_that_beat_first_is_not_marked_offline() -> None:
    """The offline write is guarded: a heartbeat in between wins, the next pass looks again."""
    cluster = FakeCluster()
    cluster.configure(orchestrator={"heartbeatInterval": INTERVAL})
    name = bodies.name_of(cluster.add_node("racing"))
    cluster.clock.advance(5.0)
    cluster.sync()
    cluster.writer.fail("patch_status", name, Conflict(409, "Conflict"))
    liveness = liveness_for(cluster)
    await liveness.run_once()
    assert [c.outcome for c in cluster.writer.calls] == [409]
    cluster.set_status(NODES, name, lastHeartbeat=bodies.format_time(cluster.clock()))
    cluster.sync()
    await liveness.run_once()
    assert cluster.node_status("racing")["status"] == "active"


async def test_a_mass_silence_marks_no_node_offline_for_the_grace_period(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Formerly tests/integration/test_disruption.py, which waited on the wall clock."""
    cluster = FakeCluster()
    cluster.configure(orchestrator={"heartbeatInterval": INTERVAL, "disruptionGraceIntervals": 60})
    crowd = [f"crowd-{i}" for i in range(4)]
    for n in [*crowd, "loner"]:
        cluster.add_node(n)
    liveness = liveness_for(cluster)
    # one silent node among five still goes offline
    cluster.clock.advance(4.0)
    for n in crowd:
        cluster.renew(n)
    cluster.sync()
    await liveness.run_once()
    assert [c.name for c in cluster.writer.done("patch_status")] == ["loner"]
    # then every node goes silent at once: the fault is ours, not theirs; the first
    # pass that sees them silent (3 s later) holds them for 60 s
    cluster.writer.clear()
    with caplog.at_level(logging.WARNING, logger="web4ai.operator.liveness"):
        for _ in range(62):
            cluster.clock.advance(1.0)
            cluster.sync()
            await liveness.run_once()
    assert cluster.writer.calls == []
    assert "disruption mode: 4/4 nodes silent" in caplog.text
    assert [cluster.node_status(n)["status"] for n in crowd] == ["active"] * 4
    # a real outage is acted on once the grace period (from the first look) is over
    cluster.clock.advance(8.0)
    cluster.sync()
    await liveness.run_once()
    assert sorted(c.name for c in cluster.writer.done("patch_status")) == crowd


@pytest.mark.parametrize(
    ("after", "offline"), [(5.9, False), (6.1, True)], ids=["within the grace", "after it"]
)
async def test_no_node_goes_offline_for_the_grace_after_a_start(
    after: float, offline: bool
) -> None:
    cluster = FakeCluster()
    cluster.configure(orchestrator={"heartbeatInterval": INTERVAL})  # grace: 2 intervals
    cluster.add_node("silent")
    liveness = liveness_for(cluster)
    cluster.clock.advance(4.0)  # silent long enough already
    liveness.hold("operator started")
    cluster.clock.advance(after - 4.0)
    cluster.sync()
    await liveness.run_once()
    assert bool(cluster.writer.calls) is (after - 4.0 >= 2.0)
    assert (cluster.node_status("silent")["status"] == "offline") is offline


# -- drains ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("deadline", "advance", "held", "expected"),
    [
        (None, 3600.0, True, "waiting"),
        (60.0, 59.0, True, "waiting"),
        (60.0, 60.0, True, "requeued"),
        (None, 0.0, False, "maintenance"),
        (60.0, 0.0, False, "maintenance"),
    ],
    ids=[
        "no deadline: waits for its task",
        "before the deadline: waits",
        "at the deadline: its task is requeued at no cost",
        "no task: parked at once",
        "no task before the deadline: parked at once",
    ],
)
async def test_drain(deadline: float | None, advance: float, held: bool, expected: str) -> None:
    cluster = FakeCluster()
    cluster.configure(orchestrator={"heartbeatInterval": 3600})
    now = cluster.clock()
    drain: Body = {"requestedAt": bodies.format_time(now)}
    if deadline is not None:
        drain["deadline"] = now + deadline
    cluster.add_node("draining", draining=drain, agents=2)
    if held:
        cluster.add_task("held", status=bound_to("draining", TaskPhase.RUNNING, retryCount=1))
    cluster.clock.advance(advance)
    liveness = liveness_for(cluster)
    cluster.sync()
    await liveness.run_once()
    tasks = cluster.writer.status_patches(TASKS)
    nodes = cluster.writer.status_patches(NODES)
    if expected == "waiting":
        assert cluster.writer.calls == []
    elif expected == "requeued":
        assert nodes == [] and len(tasks) == 1
        status = tasks[0][1]
        assert (status["phase"], status["nodeId"]) == ("retrying", None)
        assert "retryCount" not in status  # not charged
        assert status["attempts"][-1]["outcome"] == "requeued"
        assert status["errorMessage"] == "node draining drained (deadline passed)"
        # parked on the next pass, once the requeue is seen
        cluster.sync()
        await liveness.run_once()
        assert cluster.node_status("draining")["status"] == "maintenance"
    else:
        assert tasks == [] and len(nodes) == 1
        status = cluster.node_status("draining")
        assert (status["status"], status["adminStatus"]) == ("maintenance", "maintenance")
        assert "draining" not in status
        drained = {c["type"]: c for c in status["conditions"]}["Drained"]
        assert (drained["status"], drained["message"]) == ("True", "drained; in maintenance")


# -- deletion and old Leases ---------------------------------------------------------


async def test_deleting_a_node_requeues_its_tasks_then_removes_its_lease_and_finalizer() -> None:
    cluster = FakeCluster()
    cluster.configure()
    name = bodies.name_of(cluster.add_node("leaving"))
    cluster.add_task("orphan", status=bound_to("leaving"))
    lease = cluster.lease("leaving")
    assert lease is not None
    cluster.server.delete(NODES, name)  # held by the finalizer
    cluster.sync()
    liveness = liveness_for(cluster)
    await liveness.run_once()
    cluster.sync()
    await liveness.run_once()
    assert [(c.verb, c.resource) for c in cluster.writer.done()] == [
        ("patch_status", TASKS),
        ("delete", LEASES),
        ("patch", NODES),
    ]
    status = cluster.task_status("orphan")
    assert (status["status"], status["attempts"][0]["errorMessage"]) == ("pending", NODE_LOST)
    assert cluster.writer.done("delete", LEASES)[0].body == {
        "preconditions": {"uid": lease["metadata"]["uid"]}
    }
    assert cluster.lease("leaving") is None and cluster.node("leaving") is None


async def test_a_lease_of_another_node_is_never_deleted_with_a_node() -> None:
    cluster = FakeCluster()
    cluster.configure()
    name = bodies.name_of(cluster.add_node("leaving", lease=False))
    cluster.server.create(LEASES, lease_body("other", cluster.clock(), name=f"web4ai-node-{name}"))
    cluster.server.delete(NODES, name)
    cluster.sync()
    await liveness_for(cluster).run_once()
    assert [c.verb for c in cluster.writer.done()] == ["patch"]
    assert cluster.node("leaving") is None
    assert cluster.server.objects[LEASES]


@pytest.mark.parametrize(
    ("holder", "lease_name", "moves"),
    [
        ("upgraded", "upgraded", True),
        ("someone-else", "upgraded", False),
        ("upgraded", "not-the-node", False),
    ],
    ids=["the node's own old lease moves", "held by another: stays", "named otherwise: stays"],
)
async def test_old_node_leases_move_to_the_owned_names(
    holder: str, lease_name: str, moves: bool
) -> None:
    cluster = FakeCluster()
    cluster.configure()
    cluster.add_node("upgraded", lease=False)
    old = lease_body("upgraded", cluster.clock(), name=lease_name)
    old["spec"]["holderIdentity"] = holder
    created = cluster.server.create(LEASES, old)
    cluster.sync()
    await liveness_for(cluster).run_once()
    if moves:
        assert [(c.verb, c.resource) for c in cluster.writer.done()] == [
            ("create", LEASES),
            ("delete", LEASES),
        ]
        assert cluster.writer.done("delete")[0].body == {
            "preconditions": {"uid": created["metadata"]["uid"]}
        }
        new_name = f"web4ai-node-{identity(IdKind.NODE, 'upgraded').name}"
        assert set(cluster.server.objects[LEASES]) == {new_name}
        assert cluster.server.objects[LEASES][new_name]["spec"]["holderIdentity"] == "upgraded"
    else:
        assert cluster.writer.calls == []
        assert set(cluster.server.objects[LEASES]) == {lease_name}


async def test_a_large_cluster_spreads_heartbeats_and_liveness_allows_for_it() -> None:
    """Six live nodes at a cap of one heartbeat a second: nodes are told 6 s, so a
    silence of 10 s is no failure; when the cluster shrinks, the longer pace still
    holds for three such intervals (nodes learn the shorter one only as they beat)."""
    cluster = FakeCluster()
    cluster.configure(
        orchestrator={"heartbeatInterval": INTERVAL}, network={"maxHeartbeatsPerSecond": 1}
    )
    for i in range(6):
        cluster.add_node(f"n{i}")
    cluster.sync()
    assert cluster.state.heartbeat_interval() == 6.0
    liveness = liveness_for(cluster)
    await liveness.run_once()
    for i in range(1, 6):  # five go (an admin takes them out of service)
        cluster.set_status(NODES, identity(IdKind.NODE, f"n{i}").name, status="maintenance")
    cluster.clock.advance(10.0)
    for i in range(1, 6):
        cluster.renew(f"n{i}")  # they still beat: only n0 is silent
    cluster.sync()
    assert cluster.state.heartbeat_interval() == INTERVAL  # told now
    await liveness.run_once()
    assert cluster.node_status("n0")["status"] == "active"  # 10 s < 3 x 6 s
    cluster.clock.advance(10.0)  # 20 s of silence, the 6 s pace long past
    for i in range(1, 6):
        cluster.renew(f"n{i}")
    cluster.sync()
    await liveness.run_once()
    assert cluster.node_status("n0")["status"] == "offline"
