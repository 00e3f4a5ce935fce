"""The scheduler's node index follows the watch cache through its hooks alone: after
random node and task events (nodes added, changed, being deleted and deleted, tasks
bound, moved, finished and deleted), what ``NodeViews.refresh`` holds is every node's
view made from scratch (``ClusterState.node_views``), and its indexes are those of an
index made at once from them."""

from __future__ import annotations

import random

import pytest

from tests.unit.controllers.fakes import FakeCluster
from web4ai.core import patches
from web4ai.core.ids import IdKind, identity
from web4ai.core.model import TaskPhase
from web4ai.core.nodeindex import NodeIndex
from web4ai.core.resources import NODES, TASKS
from web4ai.operator.nodeviews import NodeViews

NODE_IDS = [f"node-{i}" for i in range(8)]


def step(cluster: FakeCluster, rng: random.Random, serial: int) -> None:
    """One random change on the server, as the API, a node or kubectl would make it."""
    objects = cluster.server.objects
    node_id = rng.choice(NODE_IDS)
    node_name = identity(IdKind.NODE, node_id).name
    tasks = sorted(objects[TASKS])
    roll = rng.random()
    if roll < 0.25:
        if node_name not in objects[NODES]:
            cluster.add_node(
                node_id,
                lease=False,
                agents=rng.randint(1, 3),
                capabilities=rng.sample(["gpu", "cpu", "sim-work"], rng.randint(0, 2)),
                status=rng.choice(["active", "active", "degraded", "maintenance", "offline"]),
            )
        else:
            status = rng.choice(["active", "degraded", "offline"])
            cluster.set_status(NODES, node_name, status=status, cpuUsage=rng.choice([5.0, 90.0]))
    elif roll < 0.35 and node_name in objects[NODES]:
        if rng.random() < 0.5:  # its finalizer gone first: deleted for good
            cluster.server.patch(NODES, node_name, {"metadata": {"finalizers": []}})
        if node_name in objects[NODES]:  # a node being deleted goes once it has none
            cluster.server.delete(NODES, node_name)
    elif roll < 0.55 or not tasks:
        cluster.add_task(f"t{serial}")
    else:
        name = rng.choice(tasks)
        what = rng.random()
        if what < 0.5:  # bound (or moved) to a node, which may not exist
            phase = rng.choice([TaskPhase.ASSIGNED, TaskPhase.RUNNING])
            bound = {**patches.phase_fields(phase), "nodeId": node_id}
            cluster.set_status(TASKS, name, **bound)
        elif what < 0.75:
            phase = rng.choice([TaskPhase.COMPLETED, TaskPhase.FAILED, TaskPhase.RETRYING])
            cluster.set_status(TASKS, name, **patches.phase_fields(phase))
        else:
            cluster.server.delete(TASKS, name)


def assert_in_step(views: NodeViews, cluster: FakeCluster) -> None:
    index = views.refresh()
    assert index.views == cluster.state.node_views()
    fresh = NodeIndex()
    for view in index.views.values():
        fresh.put(view)
    assert (index.open, index.by_capability, index.by_model) == (
        fresh.open,
        fresh.by_capability,
        fresh.by_model,
    )
    assert (index.schedulable, index.capacity, index.warm) == (
        fresh.schedulable,
        fresh.capacity,
        fresh.warm,
    )


@pytest.mark.parametrize("seed", range(25))
def test_the_node_index_follows_the_cache_by_its_hooks(seed: int) -> None:
    rng = random.Random(seed)
    cluster = FakeCluster()
    cluster.configure()
    views = NodeViews(cluster.state)
    views.subscribe()
    for serial in range(200):
        step(cluster, rng, serial)
        if rng.random() < 0.5:  # the watch catches up now and then, several changes at once
            cluster.sync()
            assert_in_step(views, cluster)
    cluster.sync()
    assert_in_step(views, cluster)
    assert views.index.views  # the run ends with nodes


def test_a_node_added_before_the_views_subscribed_is_in_the_first_refresh() -> None:
    cluster = FakeCluster()
    cluster.configure()
    cluster.add_node("early", agents=2, capabilities=["gpu"])
    cluster.sync()
    views = NodeViews(cluster.state)
    views.subscribe()
    index = views.refresh()
    assert set(index.views) == {"early"}
    assert index.by_capability == {"gpu": {"early"}}
