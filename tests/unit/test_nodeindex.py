"""The node index (web4ai.core.nodeindex): on random clusters, a pass's decisions from
the index (``pick_open``) are those of ``pick_node`` over every node, for the five
algorithms, with and without model-aware routing; and an index kept node by node
through random changes is the index made at once from the final views."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace

import pytest

from web4ai.core.model import (
    AgentModels,
    Algorithm,
    Node,
    NodeStatus,
    Requirements,
    Task,
    Thresholds,
)
from web4ai.core.nodeindex import NodeIndex, Views, index_routing, pick_open
from web4ai.core.ring import Ring
from web4ai.core.routing import WARM_WAIT, Routing, routing_of, routing_with
from web4ai.core.scheduling import BALANCERS, SCHEDULABLE, Decision, pick_node

CAPABILITIES = ("gpu", "cpu", "sim-work", "ai_inference")
MODELS = ("m1", "m2", "m3")
STATUSES = [NodeStatus.ACTIVE] * 5 + [NodeStatus.DEGRADED] * 2 + list(NodeStatus)
USAGES = (0.0, 10.0, 30.0, 45.0, 50.0, 79.0, 80.0, 90.0, 100.0)


def some(rng: random.Random, items: tuple[str, ...], most: int) -> frozenset[str]:
    return frozenset(rng.sample(items, rng.randint(0, most)))


def random_node(rng: random.Random, node_id: str) -> Node:
    capacity = rng.randint(1, 4)
    agents = tuple(
        AgentModels(f"a{i}", some(rng, MODELS, 2), some(rng, MODELS, 1))
        for i in range(rng.randint(0, 3))
    )
    return Node(
        node_id=node_id,
        status=rng.choice(STATUSES),
        capacity=capacity,
        running=rng.randint(0, capacity),
        capabilities=some(rng, CAPABILITIES, 3),
        cpu_usage=rng.choice(USAGES),
        memory_usage=rng.choice(USAGES),
        gpu_usage=rng.choice(USAGES),
        memory_total_mb=rng.choice((None, 4096.0, 16384.0)),
        load_score=rng.random(),
        reliability=rng.random(),
        network_latency=rng.choice((None, 5.0, 20.0, 80.0)),
        agents=agents,
    )


def random_task(rng: random.Random, i: int, ids: list[str], *, routed: bool) -> Task:
    ids = [*ids, "x1", "x2"]  # and ids of no node
    req = Requirements(
        capabilities=some(rng, CAPABILITIES, 2) if rng.random() < 0.6 else frozenset(),
        min_cpu=rng.choice((0.0, 0.0, 20.0, 60.0)),
        min_memory=rng.choice((0.0, 0.0, 1024.0, 8192.0)),
        preferred_nodes=tuple(rng.sample(ids, rng.randint(0, 2))),
        exclude_nodes=frozenset(rng.sample(ids, rng.randint(0, 2))),
        model=rng.choice((None, *MODELS, "m4")) if routed or rng.random() < 0.3 else None,
        affinity_key=rng.choice((None, None, "k1", "k2", "k3")) if routed else None,
    )
    previous = tuple(rng.sample(ids, rng.randint(0, 2))) if rng.random() < 0.3 else ()
    return Task(f"t{i:03d}", f"t{i}", rng.randint(0, 5), float(i), req, previous)


def index_of(views: list[Node], rng: random.Random) -> NodeIndex:
    """An index kept through churn: other views put and dropped before the real ones."""
    index = NodeIndex()
    for view in views:
        if rng.random() < 0.3:
            index.put(random_node(rng, view.node_id))
            if rng.random() < 0.5:
                index.drop(view.node_id)
        index.put(view)
    for gone in range(rng.randint(0, 3)):
        index.put(random_node(rng, f"gone-{gone}"))
        index.drop(f"gone-{gone}")
    return index


def held_tasks(
    rng: random.Random, ids: list[str]
) -> list[tuple[str | None, dict[str, object] | None]]:
    held: list[tuple[str | None, dict[str, object] | None]] = []
    for _ in range(rng.randint(0, 12)):
        req = {"model": rng.choice((None, *MODELS)), "affinityKey": rng.choice((None, "k1", "k2"))}
        held.append((rng.choice(ids), {"spec": {"requirements": req}}))
    return held


def a_pass(
    tasks: list[Task], routing: Routing | None, decide: Callable[[Task], Decision]
) -> list[tuple[str, Decision]]:
    """The decisions of one pass, in the scheduler's rounds (``in_rounds``): ``decide``
    counts a binding against its node."""
    out: list[tuple[str, Decision]] = []
    decided: set[str] = set()
    if routing is not None:
        routing.cold = False
        for task in (t for t in tasks if t.requirements.routed):
            decision = decide(task)
            out.append((task.name, decision))
            if decision.node_id is not None:
                decided.add(task.name)
        routing.cold = True
    for task in tasks:
        if task.name not in decided:
            out.append((task.name, decide(task)))
    return out


@pytest.mark.parametrize("algorithm", list(Algorithm))
@pytest.mark.parametrize("routed", [False, True])
@pytest.mark.parametrize("seed", range(40))
def test_the_indexed_pick_is_the_full_scans(algorithm: Algorithm, routed: bool, seed: int) -> None:
    rng = random.Random(f"{seed}-{algorithm}-{routed}")
    ids = [f"n{i:03d}" for i in rng.sample(range(1000), rng.randint(0, 40))]
    views = [random_node(rng, i) for i in ids]
    index = index_of(views, rng)
    # assumed bindings of earlier passes count on top of the index's bound counts
    assumed = {
        v.node_id: replace(v, running=v.running + rng.randint(1, 2))
        for v in views
        if rng.random() < 0.2
    }
    full = {v.node_id: assumed.get(v.node_id, v) for v in views}
    thresholds = rng.choice((Thresholds(), Thresholds(50.0, 60.0), Thresholds(100.0, 100.0)))
    optimize = rng.random() < 0.5
    tasks = sorted(
        (random_task(rng, i, ids, routed=routed) for i in range(rng.randint(1, 30))),
        key=lambda t: t.order,
    )
    now = 1000.0
    since = {t.name: now - rng.choice((0.0, WARM_WAIT / 2, WARM_WAIT)) for t in tasks}
    homes = {k: rng.choice([*ids, "gone"]) for k in ("k1", "k2", "k3") if rng.random() < 0.6}
    held, ring = held_tasks(rng, ids or ["x"]), Ring.of(frozenset(ids))
    waiting = [t.requirements.model for t in tasks]

    routing_a: Routing | None = None
    routing_b: Routing | None = None
    if routed:
        up = [n for n in full.values() if n.status in SCHEDULABLE]
        routing_a = routing_of(
            ring, up, held, 0.25, now, waiting=waiting, since=since, homes=dict(homes)
        )
        up_b = Views(index, assumed, index.schedulable)
        routing_b = index_routing(up_b, ring, 0.25, now, (since, dict(homes)))
        routing_b = routing_with(routing_b, held, waiting)

    balancer_a = BALANCERS[algorithm]()

    def by_scan(task: Task) -> Decision:
        decision = pick_node(
            task, list(full.values()), thresholds, balancer_a, optimize=optimize, routing=routing_a
        )
        if decision.node_id is not None:
            node = full[decision.node_id]
            full[node.node_id] = replace(node, running=node.running + 1)
            if routing_a is not None:
                routing_a.place(decision.node_id, task.requirements)
        return decision

    balancer_b, pass_views = BALANCERS[algorithm](), Views(index, assumed)

    def by_index(task: Task) -> Decision:
        decision = pick_open(
            task,
            index,
            pass_views,
            thresholds,
            balancer_b,
            optimize=optimize,
            routing=routing_b,
            explain=True,
        )
        if decision.node_id is not None:
            node = pass_views[decision.node_id]
            pass_views.changed[node.node_id] = replace(node, running=node.running + 1)
            if routing_b is not None:
                routing_b.place(decision.node_id, task.requirements)
        return decision

    scanned = a_pass(tasks, routing_a, by_scan)
    indexed = a_pass(tasks, routing_b, by_index)
    assert indexed == scanned
    assert dict(pass_views) == full
    if routed:
        assert routing_a is not None and routing_b is not None
        assert routing_b.homes == routing_a.homes


def test_without_explain_a_task_that_fits_nowhere_gets_no_message() -> None:
    index = NodeIndex()
    index.put(Node("a", NodeStatus.ACTIVE, capacity=1, capabilities=frozenset({"cpu"})))
    gpu = Task("t", "t", 3, 0.0, Requirements(capabilities=frozenset({"gpu"})))
    balancer = BALANCERS[Algorithm.LEAST_CONNECTIONS]()
    assert pick_open(gpu, index, Views(index), Thresholds(), balancer) == Decision(None)
    explained = pick_open(gpu, index, Views(index), Thresholds(), balancer, explain=True)
    assert explained == Decision(None, "0/1 nodes fit: 1 missing capabilities gpu")


@pytest.mark.parametrize("seed", range(30))
def test_an_index_kept_node_by_node_is_the_one_made_at_once(seed: int) -> None:
    rng = random.Random(seed)
    index, final = NodeIndex(), dict[str, Node]()
    thresholds = Thresholds(rng.choice((50.0, 80.0)), rng.choice((60.0, 85.0)))
    for step in range(200):
        node_id = f"n{rng.randrange(25)}"
        if step == 50:
            index.any_overloaded(thresholds)  # kept from now on
        if rng.random() < 0.2:
            index.drop(node_id)
            final.pop(node_id, None)
        else:
            view = random_node(rng, node_id)
            if node_id in final and rng.random() < 0.5:  # only its count moved
                view = replace(final[node_id], running=rng.randint(0, final[node_id].capacity))
            index.put(view)
            final[node_id] = view
    fresh = NodeIndex()
    for view in final.values():
        fresh.put(view)
    assert index.views == fresh.views == final
    assert index.open == fresh.open
    assert index.by_capability == fresh.by_capability
    assert index.by_model == fresh.by_model
    assert index.schedulable == fresh.schedulable
    assert (index.capacity, index.warm) == (fresh.capacity, fresh.warm)
    assert index.any_overloaded(thresholds) == fresh.any_overloaded(thresholds)
    assert index._hot == fresh._hot
    up = [v for v in final.values() if v.status in SCHEDULABLE]
    made = routing_of(Ring(), up, [], 0.25, 0.0)
    assert (index.capacity, index.warm) == (made.capacity, made.warm)
