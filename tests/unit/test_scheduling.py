"""Filters and the five algorithms (pure, deterministic)."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest

from web4ai.core.model import Algorithm, Node, NodeStatus, Requirements, Task, Thresholds
from web4ai.core.scheduling import (
    BALANCERS,
    LatencyOptimized,
    LeastConnections,
    ResourceAware,
    RoundRobin,
    SmoothWeightedRoundRobin,
    pick_node,
    unfit_reason,
    wrr_weight,
)

T = Thresholds(cpu=80, memory=85)


def node(node_id: str, **kw: object) -> Node:
    base: dict[str, object] = {"status": NodeStatus.ACTIVE, "capacity": 2}
    base.update(kw)
    return Node(node_id=node_id, **base)  # type: ignore[arg-type]


def task(**req: object) -> Task:
    previous = req.pop("previous", ())
    return Task(
        name="t",
        task_id="t",
        priority=3,
        submitted_at=0.0,
        requirements=Requirements(**req),  # type: ignore[arg-type]
        previous_nodes=previous,  # type: ignore[arg-type]
    )


# -- filters ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "t", "reason"),
    [
        (node("a", status=NodeStatus.MAINTENANCE), task(), "node is maintenance"),
        (node("a", status=NodeStatus.OFFLINE), task(), "node is offline"),
        (node("a", status=NodeStatus.ERROR), task(), "node is error"),
        (node("a", running=2), task(), "at capacity"),
        (node("a"), task(capabilities=frozenset({"gpu", "llm"})), "missing capabilities gpu,llm"),
        (node("a"), task(exclude_nodes=frozenset({"a"})), "excluded by the task"),
        (node("a", cpu_usage=80.0), task(), "over the cpu threshold"),
        (node("a", memory_usage=85.0), task(), "over the memory threshold"),
        (node("a", cpu_usage=70.0), task(min_cpu=40), "not enough free cpu"),
        (node("a"), task(min_memory=512), "memory size not reported"),
        (
            node("a", memory_total_mb=1000, memory_usage=60),
            task(min_memory=512),
            "not enough free memory",
        ),
    ],
)
def test_each_filter_says_why(n: Node, t: Task, reason: str) -> None:
    assert unfit_reason(t, n, T) == reason


def test_a_node_that_meets_everything_fits() -> None:
    n = node(
        "a",
        capabilities=frozenset({"gpu"}),
        cpu_usage=50,
        memory_total_mb=4096,
        memory_usage=50,
        running=1,
        status=NodeStatus.DEGRADED,
    )
    t = task(capabilities=frozenset({"gpu"}), min_cpu=50, min_memory=2048)
    assert unfit_reason(t, n, T) is None


def test_no_nodes() -> None:
    d = pick_node(task(), [], T, RoundRobin())
    assert d.node_id is None
    assert d.message == "0/0 nodes fit: no nodes registered"


def test_all_unschedulable_counts_reasons() -> None:
    nodes = [node("a", running=2), node("b", running=2), node("c", status=NodeStatus.OFFLINE)]
    d = pick_node(task(), nodes, T, LeastConnections())
    assert d.node_id is None
    assert d.message == "0/3 nodes fit: 2 at capacity, 1 node is offline"


def test_degraded_only_when_no_active_fits() -> None:
    nodes = [node("a", status=NodeStatus.DEGRADED), node("b")]
    assert pick_node(task(), nodes, T, RoundRobin()).node_id == "b"
    nodes = [node("a", status=NodeStatus.DEGRADED), node("b", running=2)]
    assert pick_node(task(), nodes, T, RoundRobin()).node_id == "a"


def test_preferred_nodes_win_when_they_fit() -> None:
    nodes = [node("a"), node("b"), node("c")]
    t = task(preferred_nodes=("c",))
    assert pick_node(t, nodes, T, RoundRobin()).node_id == "c"
    nodes[2] = node("c", running=2)
    assert pick_node(t, nodes, T, RoundRobin()).node_id in {"a", "b"}


def test_retry_prefers_another_node_else_the_same() -> None:
    nodes = [node("a"), node("b"), node("c")]
    t = task(previous=("a",))
    assert pick_node(t, nodes, T, LeastConnections()).node_id == "b"
    assert pick_node(t, [node("a")], T, LeastConnections()).node_id == "a"
    # every node tried: anything but the last one
    t = task(previous=("a", "b", "c"))
    assert pick_node(t, nodes, T, LeastConnections()).node_id == "a"
    t = task(previous=("b", "a"))
    assert pick_node(t, [node("a"), node("b")], T, LeastConnections()).node_id == "b"


# -- algorithms ------------------------------------------------------------


def test_round_robin_cycles_in_id_order_and_survives_changes() -> None:
    rr = RoundRobin()
    nodes = [node("c"), node("a"), node("b")]
    assert [rr.pick(nodes).node_id for _ in range(4)] == ["a", "b", "c", "a"]
    # "b" disappears: the cursor moves on to the next id after the last pick
    assert rr.pick([node("a"), node("c")]).node_id == "c"


def test_wrr_weights_from_load_and_reliability() -> None:
    assert wrr_weight(node("a")) == 100
    assert wrr_weight(node("a", load_score=0.5)) == 50
    assert wrr_weight(node("a", load_score=0.5, reliability=0.5)) == 25
    assert wrr_weight(node("a", load_score=3.0)) == 1  # never zero: still eligible


def test_smooth_wrr_is_deterministic_and_proportional() -> None:
    nodes = [node("a", load_score=0.0), node("b", load_score=0.5), node("c", load_score=0.75)]
    picks = [SmoothWeightedRoundRobin().pick(nodes).node_id for _ in range(3)]
    assert picks == ["a", "a", "a"]  # fresh state: same first pick every time
    wrr = SmoothWeightedRoundRobin()
    seq = [wrr.pick(nodes).node_id for _ in range(175)]  # weights 100:50:25
    assert Counter(seq) == {"a": 100, "b": 50, "c": 25}
    # smooth: "a" never runs more than twice in a row
    assert "aaa" not in "".join(seq)


def test_smooth_wrr_equal_weights_alternate() -> None:
    wrr = SmoothWeightedRoundRobin()
    nodes = [node("x"), node("y")]
    assert [wrr.pick(nodes).node_id for _ in range(4)] == ["x", "y", "x", "y"]


def test_least_connections_and_ties() -> None:
    lc = LeastConnections()
    assert lc.pick([node("a", running=1), node("b", running=0)]).node_id == "b"
    # tie on running: more free slots, then lower load, then id
    assert lc.pick([node("a", capacity=2), node("b", capacity=5)]).node_id == "b"
    assert lc.pick([node("a", load_score=0.9), node("b", load_score=0.1)]).node_id == "b"
    assert lc.pick([node("b"), node("a")]).node_id == "a"


def test_resource_aware_prefers_free_cpu_memory_gpu() -> None:
    ra = ResourceAware()
    nodes = [
        node("a", cpu_usage=50, memory_usage=50, gpu_usage=0),
        node("b", cpu_usage=10, memory_usage=20, gpu_usage=90),
        node("c", cpu_usage=20, memory_usage=20, gpu_usage=20),
    ]
    assert ra.pick(nodes).node_id == "c"
    assert ra.pick([node("b"), node("a")]).node_id == "a"  # tie -> id


def test_latency_optimized_unknown_latency_last() -> None:
    lo = LatencyOptimized()
    nodes = [node("a"), node("b", network_latency=30.0), node("c", network_latency=5.0)]
    assert lo.pick(nodes).node_id == "c"
    assert lo.pick([node("a"), node("b", network_latency=999.0)]).node_id == "b"
    assert lo.pick([node("b"), node("a")]).node_id == "a"


@pytest.mark.parametrize("algorithm", list(Algorithm))
def test_every_algorithm_only_picks_fitting_nodes(algorithm: Algorithm) -> None:
    balancer = BALANCERS[algorithm]()
    nodes = [
        node("full", running=2),
        node("off", status=NodeStatus.OFFLINE),
        node("ok1", network_latency=3.0),
        node("ok2", network_latency=1.0),
    ]
    for _ in range(10):
        chosen = pick_node(task(), nodes, T, balancer).node_id
        assert chosen in {"ok1", "ok2"}


def test_capacity_accounting_across_a_pass() -> None:
    """The loop bumps ``running`` after each bind; a node fills up and others take over."""
    nodes = {"a": node("a", capacity=1), "b": node("b", capacity=2)}
    balancer = LeastConnections()
    bound = []
    for _ in range(4):
        d = pick_node(task(), list(nodes.values()), T, balancer)
        bound.append(d.node_id)
        if d.node_id:
            n = nodes[d.node_id]
            nodes[d.node_id] = replace(n, running=n.running + 1)
    assert bound == ["b", "a", "b", None]  # ties go to the node with more free slots


def test_waiting_for_a_free_slot_is_not_unschedulable() -> None:
    from web4ai.core.scheduling import only_capacity

    assert only_capacity("0/3 nodes fit: 3 at capacity")
    assert not only_capacity("0/3 nodes fit: 2 at capacity, 1 node is offline")
    assert not only_capacity("0/1 nodes fit: 1 missing capabilities gpu")


def test_a_threshold_of_100_never_holds_a_saturated_node_back() -> None:
    hot = node("hot", cpu_usage=100.0, memory_usage=100.0)
    assert unfit_reason(task(), hot, Thresholds(cpu=100, memory=100)) is None
    assert unfit_reason(task(), hot, Thresholds(cpu=99.5, memory=100)) == "over the cpu threshold"
    assert unfit_reason(task(), hot, Thresholds(cpu=100, memory=90)) == (
        "over the memory threshold"
    )
