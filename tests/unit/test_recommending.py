"""Recommendations computed from real metrics against the configured targets."""

from __future__ import annotations

from web4ai.core.model import Node, NodeStatus, Task, Thresholds
from web4ai.core.recommending import Targets, desired_nodes, recommendations
from web4ai.core.scheduling import LeastConnections, pick_node

T = Thresholds(cpu=80, memory=85)


def node(node_id: str, cpu: float, mem: float = 10, status: NodeStatus = NodeStatus.ACTIVE) -> Node:
    return Node(node_id, status, capacity=2, cpu_usage=cpu, memory_usage=mem)


def by_type(recs: list[dict[str, object]]) -> dict[str, dict[str, object]]:
    return {str(r["type"]): r for r in recs}


def test_rebalancing_names_the_real_overloaded_and_underloaded_nodes() -> None:
    nodes = [
        node("hot", 95),
        node("warm", 50),
        node("cold", 5),
        node("dead", 0, 0, NodeStatus.OFFLINE),
    ]
    recs = by_type(recommendations(nodes, T, Targets(), avg_response_ms=10, utilization=0.7))
    details = recs["load_rebalancing"]["details"]
    assert isinstance(details, dict)
    assert details["overloaded_nodes"] == ["hot"]
    assert details["underloaded_nodes"] == ["cold"]
    assert recs["node_health"]["details"] == {"nodes": ["dead"]}


def test_slow_responses_against_the_configured_target() -> None:
    nodes = [node("a", 50)]
    slow = by_type(recommendations(nodes, T, Targets(), avg_response_ms=245.6, utilization=0.7))
    assert "load_rebalancing" in slow
    relaxed = Targets(response_time_ms=300)
    fine = by_type(recommendations(nodes, T, relaxed, avg_response_ms=245.6, utilization=0.7))
    assert "load_rebalancing" not in fine


def test_auto_scaling_follows_utilization_target_and_bounds() -> None:
    t = Targets(utilization=0.7, min_nodes=1, max_nodes=10)
    assert desired_nodes(4, 0.67, t) == 4  # within the tolerance: the seed's "maintain"
    assert desired_nodes(4, 1.0, t) == 6  # ceil(4 x 1.0 / 0.7)
    assert desired_nodes(4, 0.1, t) == 1
    assert desired_nodes(8, 1.0, t) == 10  # max_nodes
    assert desired_nodes(4, 0.0, Targets(min_nodes=3)) == 3  # min_nodes
    nodes = [node(f"n{i}", 10) for i in range(4)]

    def action(util: float, targets: Targets) -> object:
        recs = by_type(recommendations(nodes, T, targets, avg_response_ms=0, utilization=util))
        details = recs["auto_scaling"]["details"]
        assert isinstance(details, dict)
        return details["action"]

    assert action(0.67, t) == "maintain"
    assert action(0.95, t) == "scale_up"
    assert action(0.1, t) == "scale_down"
    assert action(0.1, Targets(min_nodes=4)) == "maintain"
    assert action(0.95, Targets(max_nodes=4)) == "maintain"


def test_optimization_prefers_underloaded_nodes() -> None:
    task = Task("t", "t", 3, 0.0)
    nodes = [node("busy", 60), node("idle", 5)]
    picks = {pick_node(task, nodes, T, LeastConnections(), optimize=True).node_id for _ in range(5)}
    assert picks == {"idle"}
    busy_first = [node("busy", 60, 10), node("idle", 5)]
    plain = pick_node(task, busy_first, T, LeastConnections(), optimize=False)
    assert plain.node_id == "busy"  # least connections alone: a tie, the first wins
