"""Model-aware routing and affinity (web4ai.core.routing): table tests of the scoring
and of its place in pick_node, the ring and the bounded loads."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Any

import pytest

from web4ai.core.model import AgentModels, Node, NodeStatus, Requirements, Task, Thresholds
from web4ai.core.ring import Ring
from web4ai.core.routing import (
    WARM_WAIT,
    Routing,
    agent_models,
    bound_load,
    cheapest,
    eviction_cost,
    load_bound,
    loading,
    model_unserved,
    route,
    routing_of,
    warm_free,
)
from web4ai.core.scheduling import LeastConnections, RoundRobin, pick_node, unfit_reason

T = Thresholds()


def agent(name: str, served: str = "", loaded: str = "") -> AgentModels:
    return AgentModels(name, frozenset(served.split()), frozenset(loaded.split()))


def node(node_id: str, *agents: AgentModels, **kw: object) -> Node:
    base: dict[str, object] = {"status": NodeStatus.ACTIVE, "capacity": 2}
    base.update(kw)
    return Node(node_id=node_id, agents=agents, **base)  # type: ignore[arg-type]


def task(model: str | None = None, key: str | None = None, name: str = "t") -> Task:
    return Task(name, name, 3, 0.0, Requirements(model=model, affinity_key=key))


def ring(*ids: str) -> Ring:
    return Ring.of(frozenset(ids))


# -- warm: a free agent holding the model -------------------------------------------


@pytest.mark.parametrize(
    ("n", "busy", "warm"),
    [
        (node("a", agent("x", "m1 m2", "m1")), 0, True),
        (node("a", agent("x", "m1 m2", "m2")), 0, False),  # served, not loaded
        (node("a", agent("x", "m1", "m1")), 1, False),  # its one m1 agent is busy
        (node("a", agent("x", "m1", "m1"), agent("y", "m1", "m1")), 1, True),
        (node("a", agent("x", "m1", "m1"), running=2), 0, False),  # no free slot
        (node("a"), 0, False),  # no agents reported
    ],
)
def test_warm_free(n: Node, busy: int, warm: bool) -> None:
    assert warm_free(n, "m1", busy) is warm


@pytest.mark.parametrize(
    ("pool", "busy", "t", "chosen", "why"),
    [
        # a task without model or key: routing leaves the pool to the algorithm
        ([node("a"), node("b")], {}, task(), {"a", "b"}, ""),
        # warm nodes win, however loaded
        (
            [node("a", agent("x", "m1"), running=0), node("b", agent("y", "m1", "m1"), running=1)],
            {},
            task("m1"),
            {"b"},
            "model m1 loaded on a free agent",
        ),
        # several warm: all stay, for the algorithm to break the tie
        (
            [node("a", agent("x", "m1", "m1")), node("b", agent("y", "m1", "m1")), node("c")],
            {},
            task("m1"),
            {"a", "b"},
            "model m1 loaded on a free agent",
        ),
        # the warm agent is busy with another m1 task: no warm node, a cold load anywhere
        (
            [node("a", agent("x", "m1 m2", "m1"), running=1), node("b", agent("y", "m1"))],
            {("a", "m1"): 1},
            task("m1"),
            {"a", "b"},
            "model m1 loaded on no free agent: a cold load",
        ),
    ],
)
def test_route_by_model(
    pool: list[Node], busy: dict[tuple[str, str], int], t: Task, chosen: set[str], why: str
) -> None:
    routing = Routing(ring(*(n.node_id for n in pool)), 10, busy=dict(busy))
    routed = route(t, pool, routing)
    assert {n.node_id for n in routed.pool} == chosen
    assert routed.why == why


def test_a_warm_node_wins_in_pick_node_over_a_less_loaded_cold_one() -> None:
    cold = node("a", agent("x", "m1 m2", "m2"), capacity=8, running=0)
    warm = node("b", agent("y", "m1 m2", "m1"), capacity=8, running=5)
    routing = Routing(ring("a", "b"), 16)
    decision = pick_node(task("m1"), [cold, warm], T, LeastConnections(), routing=routing)
    assert decision.node_id == "b" and "loaded on a free agent" in decision.message
    # without routing (model_aware_routing off) the algorithm alone picks
    assert pick_node(task("m1"), [cold, warm], T, LeastConnections()).node_id == "a"


# -- the model filter and the messages ----------------------------------------------


@pytest.mark.parametrize(
    ("nodes", "message"),
    [
        (
            [node("a", agent("x", "m2")), node("b", agent("y", "m3"))],
            "model m1 not served by any active node (0/2 nodes fit: 2 model not served)",
        ),
        (
            [node("a", agent("x", "m1"), status=NodeStatus.OFFLINE), node("b")],
            "model m1 not served by any active node"
            " (0/2 nodes fit: 1 model not served, 1 node is offline)",
        ),
        # served, but the node is full: a wait for a slot, not an unserved model
        ([node("a", agent("x", "m1"), running=2)], "0/1 nodes fit: 1 at capacity"),
    ],
)
def test_unschedulable_messages_say_why(nodes: list[Node], message: str) -> None:
    decision = pick_node(task("m1"), nodes, T, RoundRobin(), routing=Routing())
    assert decision.node_id is None and decision.message == message


def test_model_filter_applies_with_routing_off_too() -> None:
    assert unfit_reason(task("m1"), node("a", agent("x", "m2")), T) == "model not served"
    assert unfit_reason(task("m1"), node("a", agent("x", "", "m1")), T) is None  # loaded
    assert unfit_reason(task(), node("a"), T) is None
    assert model_unserved(task("m1"), [node("a", agent("x", "m1"))]) is None
    assert model_unserved(task(), []) is None


# -- affinity: consistent hashing with bounded loads ---------------------------------


def test_the_ring_walks_every_node_once_and_is_stable() -> None:
    r = ring("a", "b", "c", "d")
    walk = list(r.walk("conversation-1"))
    assert sorted(walk) == ["a", "b", "c", "d"]
    assert list(ring("d", "c", "b", "a").walk("conversation-1")) == walk
    assert list(Ring().walk("k")) == []


def test_removing_a_node_moves_only_its_keys() -> None:
    ids = [f"n{i}" for i in range(10)]
    keys = [f"k{i}" for i in range(2000)]
    before = {k: next(ring(*ids).walk(k)) for k in keys}
    after = {k: next(ring(*ids[1:]).walk(k)) for k in keys}
    moved = {k for k in keys if before[k] != after[k]}
    assert moved == {k for k in keys if before[k] == "n0"}
    # and the keys spread: every node is home to some, none to over twice its share
    homes = Counter(before.values())
    assert set(homes) == set(ids) and max(homes.values()) < 2 * len(keys) / len(ids)


@pytest.mark.parametrize(
    ("capacity_a", "running", "total_capacity", "epsilon", "bound"),
    [
        (2, 0, 40, 0.25, 1),  # ceil(1.25 * 1 * 2/40)
        (2, 39, 40, 0.25, 3),  # ceil(1.25 * 40 * 2/40) = ceil(2.5)
        (4, 39, 40, 0.25, 5),  # twice the capacity, twice the share
        (2, 39, 40, 0.0, 2),
        (2, 5, 0, 0.25, 2),  # no capacity known: the node's own
    ],
)
def test_load_bound(
    capacity_a: int, running: int, total_capacity: int, epsilon: float, bound: int
) -> None:
    assert load_bound(node("a", capacity=capacity_a), running, total_capacity, epsilon) == bound


def home_of(key: str, ids: list[str]) -> str:
    return next(ring(*ids).walk(key))


def test_a_key_keeps_its_node_and_moves_when_it_is_full_over_its_bound_or_gone() -> None:
    ids = ["a", "b", "c", "d"]
    key = "conversation-7"
    home, second = list(ring(*ids).walk(key))[:2]
    pool = [node(i, capacity=4) for i in ids]
    routing = Routing(ring(*ids), 16, keyed={i: 1 for i in ids}, nodes={n.node_id: n for n in pool})
    routed = route(task(key=key), pool, routing)
    assert [n.node_id for n in routed.pool] == [home]
    assert routed.why == f"affinity key {key}: first on the ring"
    routing.place(home, Requirements(affinity_key=key))
    assert routing.homes == {key: home} and routing.keyed[home] == 2
    routing.keyed[home] = 1  # that task done
    # the same key, the same node, however often
    for _ in range(3):
        routed = route(task(key=key), pool, routing)
        assert [n.node_id for n in routed.pool] == [home]
        assert routed.why == f"affinity key {key}: its node"
    # full (no longer among the nodes that fit): it waits a while for its node, then
    # the next node on the ring, this once
    fitting = [n for n in pool if n.node_id != home]
    routing.now = 10.0
    routed = route(task(key=key), fitting, routing)
    assert (
        routed.pool == []
        and routed.why == f"affinity key {key}: waiting up to 1 s for its node {home}"
    )
    routing.since = {"t": 10.0 - WARM_WAIT}
    routed = route(task(key=key), fitting, routing)
    assert routed.pool[0].node_id == second
    assert routed.why == f"affinity key {key}: its node {home} does not fit; first on the ring"
    routing.place(second, Requirements(affinity_key=key))
    routing.keyed[second] = 1  # that task done
    assert routing.homes == {key: home}  # and back once it fits
    assert route(task(key=key), pool, routing).pool[0].node_id == home
    # over its bound: 5 keyed tasks, ceil(1.25 x 6 x 4/16) = 2 on a node is the most
    loaded = Routing(
        ring(*ids),
        16,
        keyed={home: 2, second: 1, "x": 2},
        nodes=routing.nodes,
        homes={key: home},
        since={"t": 0.0},
        now=WARM_WAIT,
    )
    routed = route(task(key=key), pool, loaded)
    assert routed.pool[0].node_id == second
    assert (
        routed.why == f"affinity key {key}: its node {home} at its load bound 2; first on the ring"
    )
    # other tasks do not count: a node busy with unkeyed work keeps its keys
    busy = [node(i, capacity=4, running=3 if i == home else 0) for i in ids]
    assert route(task(key=key), busy, routing).pool[0].node_id == home
    # gone: the next one on the ring at once, and it stays there
    rest = [i for i in ids if i != home]
    nodes = [node(i, capacity=4) for i in rest]
    gone = Routing(ring(*rest), 12, nodes={n.node_id: n for n in nodes}, homes={key: home})
    routed = route(task(key=key), nodes, gone)
    assert routed.pool[0].node_id == second
    assert routed.why == f"affinity key {key}: its node {home} gone; first on the ring"
    gone.place(second, Requirements(affinity_key=key))
    assert gone.homes == {key: second}


@pytest.mark.parametrize(
    ("loaded", "busy", "home", "why"),
    [
        # a first turn goes to the first node on the ring with a free agent holding its
        # model, not to whatever node the key hashes to
        ({"b": "m1"}, {}, "b", "first on the ring with m1 loaded"),
        ({"a": "m1", "b": "m1", "c": "m1"}, {}, "ring", "first on the ring with m1 loaded"),
        # loaded on busy agents only: it waits for one (None: deferred)
        ({"b": "m1"}, {("b", "m1"): 1}, None, "waiting up to 1 s for an agent holding m1"),
        # loaded nowhere: a cold load at once, where it costs least (c holds nothing)
        ({"a": "m2", "b": "m2"}, {}, "c", "first on the ring for a cold load"),
    ],
)
def test_a_keys_first_task_goes_warm(
    loaded: dict[str, str], busy: dict[tuple[str, str], int], home: str | None, why: str
) -> None:
    ids = ["a", "b", "c"]
    pool = [node(i, agent("x", "m1 m2", loaded.get(i, "")), running=0) for i in ids]
    routing = routing_of(ring(*ids), pool, [], 0.25, now=5.0)
    routing.busy = dict(busy)
    routed = route(task("m1", "conv"), pool, routing)
    expected = home_of("conv", ids) if home == "ring" else home
    assert [n.node_id for n in routed.pool] == ([] if home is None else [expected])
    assert routed.why == f"affinity key conv: {why}"


def test_affinity_wins_over_warmth_and_over_the_algorithm() -> None:
    ids = ["a", "b", "c"]
    key = "conv"
    home = "b"  # its node, where its model is no longer loaded
    pool = [node(i, agent("x", "m1", "m1" if i != home else ""), capacity=4) for i in ids]
    pool[1] = replace(pool[1], running=3)
    routing = Routing(ring(*ids), 12, nodes={n.node_id: n for n in pool}, homes={key: home})
    decision = pick_node(task("m1", key), pool, T, LeastConnections(), routing=routing)
    assert decision.node_id == home and decision.message == f"affinity key {key}: its node"


def test_no_node_takes_more_than_its_bounded_load() -> None:
    """Many keyed tasks placed one after another (as a scheduler pass places them): no
    node ever holds more than ceil((1 + eps) x its share), however the keys hash."""
    ids = [f"n{i}" for i in range(8)]
    pool = [node(n, capacity=100) for n in ids]
    routing = Routing(ring(*ids), 8 * 100, epsilon=0.25, now=WARM_WAIT, since={"t": 0.0})
    for i in range(400):  # each waited for its node when it was at its bound
        bound = load_bound(pool[0], routing.keyed_total, routing.capacity, routing.epsilon)
        chosen = route(task(key=f"k{i % 50}"), pool, routing).pool[0].node_id
        assert routing.keyed.get(chosen, 0) + 1 <= bound
        routing.place(chosen, Requirements(affinity_key=f"k{i % 50}"))
    assert routing.keyed_total == 400
    assert max(routing.keyed.values()) <= 1.25 * 400 / 8 + 1


# -- the inputs ---------------------------------------------------------------------


def test_agent_models_take_the_heartbeat_over_the_registration() -> None:
    registered = [
        {"agentId": "x", "specializedModels": ["m1", "m2"], "loadedModels": ["m1"]},
        {"agentId": "y", "specializedModels": ["m3"]},
    ]
    reported = [{"agentId": "x", "loadedModels": ["m2"]}, {"agentId": "z", "loadedModels": ["m4"]}]
    got = agent_models(registered, reported)  # type: ignore[arg-type]
    assert got == (agent("x", "m1 m2", "m2"), agent("y", "m3"), agent("z", "", "m4"))
    assert Node("n", NodeStatus.ACTIVE, 3, agents=got).models == {"m1", "m2", "m3", "m4"}


def test_bound_load_and_place() -> None:
    busy, keyed = bound_load(
        [
            ("a", "m1", None),
            ("a", "m1", "k"),
            ("b", None, "k"),
            (None, "m1", "k"),
            ("b", "m2", None),
        ]
    )
    assert busy == {("a", "m1"): 2, ("b", "m2"): 1}
    assert keyed == {"a": 1, "b": 1}
    routing = Routing(busy=busy, keyed=keyed)
    routing.place("b", Requirements(model="m2"))
    routing.place("c", Requirements(affinity_key="k2"))
    assert routing.busy[("b", "m2")] == 2 and routing.keyed == {"a": 1, "b": 1, "c": 1}
    assert routing.keyed_total == 3


def test_a_task_waits_a_while_for_a_busy_warm_agent_then_loads_cold() -> None:
    """Delay scheduling: the model is loaded only on a busy agent; for WARM_WAIT after
    its first deferral the task waits (deferred, not unschedulable), then takes a cold
    node. The wait counts from the first deferral, not from submission: in a backlog
    every task is older than WARM_WAIT, and would take a cold load at once."""
    busy_warm = node("a", agent("x", "m1", "m1"), capacity=1, running=1)
    cold = node("b", agent("y", "m1 m2", "m2"))
    held_tasks: list[tuple[str | None, Any]] = [("a", held("m1"))]
    since: dict[str, float] = {}
    routing = routing_of(ring("a", "b"), [busy_warm, cold], held_tasks, 0.25, 100.0, since=since)
    assert routing.warm == {"m1": 1, "m2": 1} and routing.busy == {("a", "m1"): 1}
    t = Task("t", "t", 3, 0.0, Requirements(model="m1"))  # submitted long ago
    decision = pick_node(t, [cold], T, RoundRobin(), routing=routing)
    assert (decision.node_id, decision.deferred) == (None, True)
    assert decision.message == f"waiting up to {WARM_WAIT:g} s for an agent holding m1"
    since["t"] = 100.0  # the scheduler notes the first deferral
    routing.now = 100.0 + WARM_WAIT - 0.01
    assert pick_node(t, [cold], T, RoundRobin(), routing=routing).deferred
    routing.now = 100.0 + WARM_WAIT
    decision = pick_node(t, [cold], T, RoundRobin(), routing=routing)
    assert decision.node_id == "b" and not decision.deferred
    assert decision.message == "model m1 loaded on no free agent: a cold load"
    # a model loaded nowhere: no wait at all
    fresh = Task("u", "u", 3, 0.0, Requirements(model="m2"))
    assert (
        pick_node(fresh, [node("c", agent("z", "m2"))], T, RoundRobin(), routing=Routing()).node_id
        == "c"
    )


@pytest.mark.parametrize(
    ("agents", "busy", "loads", "warm"),
    [
        # nothing bound: the m1 agent is free
        ("m1 m2", {}, 0, True),
        # an m3 task bound there (no agent holds m3): a load under way, on a free agent
        # of the node's choosing, maybe the m1 one
        ("m1 m2", {("a", "m3"): 1}, 1, False),
        # two m1 agents, one load: one of them is left
        ("m1 m1", {("a", "m3"): 1}, 1, True),
        # an m2 task bound there is warm (an m2 agent holds it): no load
        ("m1 m2", {("a", "m2"): 1}, 0, True),
        # two m2 tasks, one m2 agent: the second is a load
        ("m1 m2", {("a", "m2"): 2}, 1, False),
        # another node's tasks do not count
        ("m1 m2", {("b", "m3"): 1}, 0, True),
    ],
)
def test_loads_under_way_take_any_free_agent(
    agents: str, busy: dict[tuple[str, str], int], loads: int, warm: bool
) -> None:
    n = node(
        "a", *(agent(f"x{i}", "m1 m2 m3", m) for i, m in enumerate(agents.split())), capacity=3
    )
    assert loading(n, busy) == loads
    assert warm_free(n, "m1", busy.get(("a", "m1"), 0), loading(n, busy)) is warm


@pytest.mark.parametrize(
    ("nodes", "warm", "demand", "cheapest_ids"),
    [
        # a cold load swaps a free agent's model: where the worst such swap loses a
        # model with the fewest agents for its demand, it costs most
        ({"a": "m1", "b": "m2"}, {"m1": 4, "m2": 1}, {}, {"a"}),
        ({"a": "m1", "b": "m2"}, {"m1": 4, "m2": 1}, {"m1": 9}, {"b"}),  # (9+1)/4 > 1/1
        # an agent holding nothing costs nothing
        ({"a": "m1", "b": ""}, {"m1": 9}, {}, {"b"}),
        # equal: the algorithm picks
        ({"a": "m1", "b": "m1"}, {"m1": 2}, {}, {"a", "b"}),
    ],
)
def test_a_cold_load_goes_where_it_swaps_out_the_model_missed_least(
    nodes: dict[str, str], warm: dict[str, int], demand: dict[str, int], cheapest_ids: set[str]
) -> None:
    pool = [node(i, agent("x", "m1 m2 m3", m)) for i, m in nodes.items()]
    routing = Routing(warm=warm, demand=demand)
    assert {n.node_id for n in cheapest(pool, routing)} == cheapest_ids
    routed = route(task("m3"), pool, routing)
    assert {n.node_id for n in routed.pool} == cheapest_ids


def test_a_busy_agent_is_not_the_one_swapped() -> None:
    # its only m1 agent busy with an m1 task: a load there swaps the m2 agent's model
    n = node("a", agent("x", "m1 m2 m3", "m1"), agent("y", "m1 m2 m3", "m2"), running=1)
    routing = Routing(busy={("a", "m1"): 1}, warm={"m1": 1, "m2": 4})
    assert eviction_cost(n, routing) == 1 / 4


def held(model: str | None = None, key: str | None = None) -> dict[str, object]:
    req = {k: v for k, v in (("model", model), ("affinityKey", key)) if v is not None}
    return {"metadata": {"name": "t"}, "spec": {"taskId": "t", "requirements": req}}


def test_the_first_round_places_only_what_goes_warm_or_to_its_keys_node() -> None:
    warm, cold = node("a", agent("x", "m1 m2", "m1")), node("b", agent("y", "m1 m2", "m2"))
    pool = [warm, cold]
    routing = Routing(ring("a", "b"), 4, nodes={"a": warm, "b": cold}, cold=False)
    assert [n.node_id for n in route(task("m1"), pool, routing).pool] == ["a"]
    assert route(task("m3"), pool, routing).pool == []  # a cold load: the second round
    assert route(task(), pool, routing).pool == pool  # no model, no key: not routed
    # a key's node, however cold; a new key only warm
    routing.homes["k"] = "b"
    assert [n.node_id for n in route(task("m1", "k"), pool, routing).pool] == ["b"]
    assert [n.node_id for n in route(task("m1", "new"), pool, routing).pool] == ["a"]
    assert route(task("m3", "new"), pool, routing).pool == []
    assert route(task("m3", "k"), [warm], routing).pool == []  # its node full: no move
    routing.cold = True
    assert [n.node_id for n in route(task("m3"), pool, routing).pool]


def test_a_keyed_task_waits_rather_than_put_a_node_over_its_bound() -> None:
    ids = ["a", "b", "c", "d"]
    nodes = {i: node(i, agent("x", "m1", "m1"), capacity=1) for i in ids}
    # 4 keyed tasks bound: a bound of ceil(1.25 x 5 x 1/4) = 2; the two nodes that fit
    # hold 2 each, c and d (full now) none: the task waits for one of them
    keyed = {"a": 2, "b": 2}
    routing = Routing(ring(*ids), 4, keyed=dict(keyed), nodes=nodes)
    fitting = [nodes["a"], nodes["b"]]
    routed = route(task("m1", "k"), fitting, routing)
    assert routed.pool == []
    assert routed.why == "affinity key k: every node that fits at its load bound"
    # no node that serves the model is within its bound (c and d do not serve it):
    # the bound cannot hold, any node that fits does
    for i in "cd":
        nodes[i] = node(i, agent("x", "m2", "m2"), capacity=1)
    routing = Routing(ring(*ids), 4, keyed=dict(keyed), nodes=nodes)
    routed = route(task("m1", "k"), fitting, routing)
    assert routed.pool == fitting and routed.why == "affinity key k: every node at its load bound"
