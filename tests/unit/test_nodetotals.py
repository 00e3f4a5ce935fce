"""The node totals kept as nodes change agree with a scan of every node, whatever the
order of changes, deletions and marks for deletion."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

from tests.unit.controllers.objects import node_body
from web4ai.core import bodies
from web4ai.core.crs import NodeBody
from web4ai.core.nodetotals import NodeTotals

STATUSES = ("active", "degraded", "offline", "maintenance", "inactive")


def scanned(nodes: dict[str, NodeBody]) -> dict[str, Any]:
    """The totals as a scan of every node (what the API did before) computes them."""
    by_status: Counter[str] = Counter()
    agents: dict[str, int] = {}
    live = capacity = latencies = 0
    cpu = memory = load = latency = 0.0
    for b in nodes.values():
        if b["metadata"].get("deletionTimestamp"):
            continue
        st = b["status"]
        by_status[st["status"]] += 1
        agents[b["spec"]["nodeId"]] = b["spec"]["agentsCount"]
        if st["status"] in ("active", "degraded"):
            live += 1
            capacity += bodies.node_capacity(b)
            cpu += st.get("cpuUsage", 0)
            memory += st.get("memoryUsage", 0)
            load += st.get("loadScore", 0)
            if st.get("networkLatency") is not None:
                latency += st["networkLatency"]
                latencies += 1
    return {
        "by_status": dict(by_status),
        "agents": agents,
        "live": live,
        "capacity": capacity,
        "cpu": round(cpu, 6),
        "memory": round(memory, 6),
        "load": round(load, 6),
        "latency": round(latency, 6),
        "latencies": latencies,
    }


def kept(t: NodeTotals) -> dict[str, Any]:
    return {
        "by_status": dict(t.by_status),
        "agents": dict(t.agents_by_node),
        "live": t.live,
        "capacity": t.capacity,
        "cpu": round(t.cpu, 6),
        "memory": round(t.memory, 6),
        "load": round(t.load, 6),
        "latency": round(t.latency, 6),
        "latencies": t.latencies,
    }


def random_node(rng: random.Random, node_id: str) -> NodeBody:
    observed: dict[str, Any] = {
        "cpuUsage": round(rng.uniform(0, 100), 2),
        "memoryUsage": round(rng.uniform(0, 100), 2),
        "loadScore": round(rng.random(), 4),
    }
    if rng.random() < 0.7:
        observed["networkLatency"] = round(rng.uniform(1, 90), 2)
    body = node_body(node_id, status=rng.choice(STATUSES), agents=rng.randint(1, 8), **observed)
    if rng.random() < 0.1:
        body["metadata"]["deletionTimestamp"] = "2026-12-07T00:00:00Z"
    return bodies.as_node(body)


def test_kept_totals_agree_with_a_scan_through_random_changes() -> None:
    rng = random.Random(7)
    totals, nodes = NodeTotals(), dict[str, NodeBody]()
    for step in range(5000):
        node_id = f"n{rng.randrange(300)}"
        name = bodies.name_of(node_body(node_id))
        if name in nodes and rng.random() < 0.15:
            totals.deleted(nodes.pop(name))
        else:
            nodes[name] = random_node(rng, node_id)
            totals.changed(nodes[name])
        if step % 250 == 0:
            assert kept(totals) == scanned(nodes)
    assert kept(totals) == scanned(nodes)
    for body in list(nodes.values()):
        totals.deleted(body)
    assert kept(totals) == scanned({}) and totals.cpu == 0.0 and totals.latency == 0.0


def test_a_change_keeps_the_node_in_its_place_and_a_deleted_one_leaves() -> None:
    totals = NodeTotals()
    a = bodies.as_node(node_body("a", agents=2))
    b = bodies.as_node(node_body("b", agents=3))
    totals.changed(a)
    totals.changed(b)
    totals.changed(bodies.as_node(node_body("a", agents=5, status="degraded", cpuUsage=50.0)))
    assert list(totals.agents_by_node.items()) == [("a", 5), ("b", 3)]
    marked: NodeBody = bodies.as_node(
        {**b, "metadata": {**b["metadata"], "deletionTimestamp": "x"}}
    )
    totals.changed(marked)
    assert totals.agents_by_node == {"a": 5} and dict(totals.by_status) == {"degraded": 1}
    assert totals.cpu == 50.0 and totals.live == 1
    totals.deleted(marked)  # its deletion after the mark changes nothing more
    assert dict(totals.by_status) == {"degraded": 1}
