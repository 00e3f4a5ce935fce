"""Liveness looks at what changed (web4ai.operator.livenessindex): the nodes whose Lease
may have expired, the draining and deleted nodes, the tasks of lost nodes. What a look
finds is what a scan of every node and task finds (random runs against one), and a
look after which nothing changed reads no Lease."""

from __future__ import annotations

import random
from typing import Any

import pytest

from tests.unit.controllers.fakes import NODE_LABEL, FakeCluster
from tests.unit.controllers.objects import lease_body
from web4ai.core import bodies, patches
from web4ai.core.crs import NodeBody
from web4ai.core.ids import IdKind, identity, node_lease_name
from web4ai.core.lifecycle import lease_expired
from web4ai.core.model import NodeStatus, TaskPhase
from web4ai.core.resources import LEASES, NODES, TASKS
from web4ai.k8s.cache import ClusterState
from web4ai.operator.liveness import SWEEP_EVERY, Liveness

Body = dict[str, Any]
INTERVAL = 1.0


def liveness_for(cluster: FakeCluster) -> Liveness:
    return Liveness(cluster.state, cluster.writer, cluster.clock, guard=cluster.guard())


def name(node_id: str) -> str:
    return identity(IdKind.NODE, node_id).name


def bound_to(node: str | None, phase: TaskPhase = TaskPhase.RUNNING) -> Body:
    return {**patches.phase_fields(phase), "nodeId": node, "assignedNodes": [node] if node else []}


def counting(state: ClusterState, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the nodes whose Lease is read, in order."""
    read: list[str] = []
    real = state.lease_renewed

    def lease_renewed(body: NodeBody) -> float | None:
        read.append(bodies.name_of(body))
        return real(body)

    monkeypatch.setattr(state, "lease_renewed", lease_renewed)
    return read


# -- what a scan of everything finds (the look before the index) ----------------------


def scanned_silent(state: ClusterState, interval: float, now: float) -> set[str]:
    return {
        n
        for n, b in state.nodes_by_name.items()
        if bodies.node_alive(b)
        and not b["metadata"].get("deletionTimestamp")
        and lease_expired(state.lease_renewed(b), interval, now)
    }


def scanned_watched(state: ClusterState) -> set[str]:
    return {
        n
        for n, b in state.nodes_by_name.items()
        if bodies.node_alive(b) and not b["metadata"].get("deletionTimestamp")
    }


def scanned_stranded(state: ClusterState) -> set[str]:
    nodes = state.nodes_by_name.values()
    lost = {
        bodies.node_id(b)
        for b in nodes
        if bodies.node_status(b) is NodeStatus.OFFLINE
        or not bodies.node_alive(b)
        or b["metadata"].get("deletionTimestamp")
    }
    known = {bodies.node_id(b) for b in nodes}
    return {
        bodies.name_of(t)
        for t in state.tasks_with(TaskPhase.ASSIGNED, TaskPhase.RUNNING)
        if bodies.task_node(t) in lost or bodies.task_node(t) not in known
    }


def look(liveness: Liveness) -> tuple[set[str], set[str]]:
    """The first steps of ``run_once`` (no writes): the silent nodes, the stranded tasks."""
    now = liveness.clock()
    interval = liveness.interval(now)
    expired = liveness._expired(now, interval, liveness._refresh(now, interval))
    return {bodies.name_of(b) for b in expired}, {
        bodies.name_of(t) for t in liveness.index.stranded()
    }


def shuffle(cluster: FakeCluster, rng: random.Random, ids: list[str]) -> None:
    """One random change, as nodes, admins and the API make them."""
    server, objects = cluster.server, cluster.server.objects
    node_id = rng.choice(ids)
    node, lease = name(node_id), node_lease_name(name(node_id))
    op = rng.randrange(14)
    if op == 0 and node not in objects[NODES]:
        fresh = lease not in objects[LEASES] and rng.random() < 0.7
        initial = rng.choice(["active", "degraded", "offline", "maintenance"])
        cluster.add_node(node_id, lease=fresh, status=initial)
    elif op in (1, 2, 3) and lease in objects[LEASES]:
        cluster.renew(node_id)
    elif op == 4 and lease in objects[LEASES]:
        server.delete(LEASES, lease)
    elif op == 5 and lease in objects[LEASES]:
        back = bodies.format_time(cluster.clock() - rng.uniform(0, 5))
        server.patch(LEASES, lease, {"spec": {"renewTime": back}})
    elif op == 6 and lease in objects[LEASES]:
        other = rng.choice([node_id, "someone-else"])
        server.patch(LEASES, lease, {"metadata": {"labels": {NODE_LABEL: other}}})
    elif op == 7 and lease not in objects[LEASES] and node in objects[NODES]:
        server.create(LEASES, lease_body(node_id, cluster.clock() - rng.uniform(0, 4)))
    elif op == 8 and node in objects[NODES]:
        ready = "False" if rng.random() < 0.5 else "True"
        status: Body = {
            "status": rng.choice(["active", "offline", "maintenance"]),
            "conditions": [{"type": "Ready", "status": ready}],
        }
        if rng.random() < 0.3:
            status["draining"] = {"requestedAt": bodies.format_time(cluster.clock())}
        elif rng.random() < 0.3:
            status["draining"] = None
        if rng.random() < 0.3:
            status["lastHeartbeat"] = bodies.format_time(cluster.clock())
        cluster.set_status(NODES, node, **status)
    elif op == 9 and node in objects[NODES]:
        server.delete(NODES, node)  # held by the finalizer
        if rng.random() < 0.5:  # and gone
            server.patch(NODES, node, {"metadata": {"finalizers": []}})
    elif op == 10:
        task = f"t{rng.randrange(40)}"
        target = rng.choice([*ids, "vanished", None])
        phase = rng.choice([TaskPhase.ASSIGNED, TaskPhase.RUNNING, TaskPhase.COMPLETED])
        if cluster.task(task) is None:
            cluster.add_task(task, status=bound_to(target, phase))
        else:
            cluster.set_status(TASKS, identity(IdKind.TASK, task).name, **bound_to(target, phase))
    elif op == 11:
        task = identity(IdKind.TASK, f"t{rng.randrange(40)}").name
        if task in objects[TASKS]:
            server.delete(TASKS, task)
    elif op == 12:
        cluster.configure(orchestrator={"heartbeatInterval": rng.choice([0.5, 1.0, 2.0])})
    else:
        cluster.clock.advance(rng.uniform(0, 2))


@pytest.mark.parametrize("seed", range(12))
def test_a_look_finds_what_a_scan_of_everything_finds(seed: int) -> None:
    rng = random.Random(seed)
    cluster = FakeCluster()
    cluster.configure(orchestrator={"heartbeatInterval": INTERVAL})
    ids = [f"n{i}" for i in range(12)]
    for node_id in ids[:8]:
        cluster.add_node(node_id, lease=rng.random() < 0.8)
    cluster.sync()
    liveness = liveness_for(cluster)
    state, index = cluster.state, liveness.index
    for step in range(300):
        for _ in range(rng.randrange(4)):
            shuffle(cluster, rng, ids)
        if rng.random() < 0.5:
            cluster.sync()
        now = cluster.clock()
        silent, stranded = look(liveness)
        interval = liveness._widest
        assert silent == scanned_silent(state, interval, now), step
        assert index.watched == scanned_watched(state), step
        assert stranded == scanned_stranded(state), step
        assert set(index.draining) == {
            n
            for n, b in state.nodes_by_name.items()
            if bodies.node_draining(b) and not b["metadata"].get("deletionTimestamp")
        }
        assert set(index.deleting) == {
            n for n, b in state.nodes_by_name.items() if b["metadata"].get("deletionTimestamp")
        }


async def test_a_look_after_which_nothing_changed_reads_no_lease(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cluster = FakeCluster()
    cluster.configure(orchestrator={"heartbeatInterval": INTERVAL})
    for i in range(50):
        cluster.add_node(f"n{i}")
    cluster.add_task("t", status=bound_to("n0"))
    cluster.sync()
    liveness = liveness_for(cluster)
    read = counting(cluster.state, monkeypatch)
    await liveness.run_once()  # the first look: every node
    assert len(read) == 50
    read.clear()
    cluster.clock.advance(0.1)
    await liveness.run_once()
    assert read == []
    # a renewal makes nothing due; a node's own event makes it due at once
    cluster.renew("n1")
    cluster.set_status(NODES, name("n2"), lastHeartbeat=bodies.format_time(cluster.clock()))
    cluster.sync()
    await liveness.run_once()
    assert read == [name("n2")]
    read.clear()
    # the nodes fall due when their Leases would expire, and only then
    cluster.clock.advance(2.8)
    await liveness.run_once()
    assert read == []
    cluster.clock.advance(0.2)  # 3.1 s after the Leases were written
    for i in range(3, 50):
        cluster.renew(f"n{i}")
    cluster.sync()
    await liveness.run_once()
    # each once, and the silent one again before it is written offline
    assert sorted(read) == sorted([name("n0")] + [name(f"n{i}") for i in range(50)])
    assert [c.name for c in cluster.writer.done("patch_status", NODES)] == [name("n0")]
    assert [c.name for c in cluster.writer.done("patch_status", TASKS)] == ["t"]


async def test_a_deleted_lease_makes_its_node_due_at_once() -> None:
    cluster = FakeCluster()
    cluster.configure(orchestrator={"heartbeatInterval": INTERVAL})
    cluster.add_node("n")
    cluster.clock.advance(5.0)
    cluster.renew("n")  # alive by its Lease alone
    cluster.sync()
    liveness = liveness_for(cluster)
    await liveness.run_once()
    assert cluster.writer.calls == []
    cluster.server.delete(LEASES, node_lease_name(name("n")))
    cluster.sync()
    await liveness.run_once()
    assert cluster.node_status("n")["status"] == "offline"


async def test_a_shorter_interval_makes_every_node_due(monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = FakeCluster()
    cluster.configure(orchestrator={"heartbeatInterval": 10.0})
    for i in range(5):
        cluster.add_node(f"n{i}")
    cluster.sync()
    liveness = liveness_for(cluster)
    await liveness.run_once()
    read = counting(cluster.state, monkeypatch)
    cluster.clock.advance(4.0)
    await liveness.run_once()
    assert read == []  # due after 30 s
    cluster.configure(orchestrator={"heartbeatInterval": INTERVAL, "disruptionThreshold": 1})
    cluster.sync()
    await liveness.run_once()
    assert sorted(set(read)) == [name(f"n{i}") for i in range(5)]
    assert len(cluster.writer.done("patch_status", NODES)) == 5


async def test_a_task_bound_to_an_offline_node_later_is_requeued_at_the_next_look() -> None:
    cluster = FakeCluster()
    cluster.configure(orchestrator={"heartbeatInterval": INTERVAL})
    cluster.add_node("gone", status="offline")
    cluster.sync()
    liveness = liveness_for(cluster)
    await liveness.run_once()
    assert cluster.writer.calls == [] and not liveness.index._suspect
    cluster.add_task("late", status=bound_to("gone"))  # decided before it went offline
    cluster.sync()
    await liveness.run_once()
    assert cluster.task_status("late")["phase"] == "retrying"


async def test_the_safety_sweep_finds_what_the_index_lost() -> None:
    cluster = FakeCluster()
    cluster.configure(orchestrator={"heartbeatInterval": INTERVAL})
    cluster.add_node("n")
    cluster.sync()
    liveness = liveness_for(cluster)
    await liveness.run_once()
    liveness.index.due.forget(name("n"))  # as if a hook had missed something
    cluster.clock.advance(5.0)
    await liveness.run_once()
    assert cluster.writer.calls == []
    cluster.clock.advance(SWEEP_EVERY)
    await liveness.run_once()
    assert cluster.node_status("n")["status"] == "offline"


async def test_an_old_lease_that_comes_later_moves_at_the_next_look() -> None:
    cluster = FakeCluster()
    cluster.configure()
    cluster.add_node("upgraded", lease=False)
    cluster.sync()
    liveness = liveness_for(cluster)
    await liveness.run_once()
    cluster.server.create(LEASES, lease_body("upgraded", cluster.clock(), name=name("upgraded")))
    cluster.sync()
    await liveness.run_once()
    assert set(cluster.server.objects[LEASES]) == {node_lease_name(name("upgraded"))}
    cluster.sync()
    assert not liveness.index.old_leases
