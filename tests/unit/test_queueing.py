"""The unschedulable set: which events move which waiting tasks back (pure, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from web4ai.core.model import Node, NodeStatus, Requirements, Task, Thresholds
from web4ai.core.queueing import Unschedulable, may_help, needs

LIMITS = Thresholds(cpu=80.0, memory=85.0)


def task(name: str, priority: int = 3, at: float = 0.0, **req: object) -> Task:
    return Task(name, name, priority, at, Requirements(**req))  # type: ignore[arg-type]


def node(
    status: NodeStatus = NodeStatus.ACTIVE, capacity: int = 2, running: int = 0, **kw: object
) -> Node:
    return Node("n1", status, capacity, running, **kw)  # type: ignore[arg-type]


GPU = frozenset({"gpu"})


@dataclass(frozen=True)
class Hint:
    task: Task
    before: Node | None
    after: Node | None
    helps: bool


HINTS = {
    "a node added that fits": Hint(task("t"), None, node(), True),
    "a node added without the capability": Hint(task("t", capabilities=GPU), None, node(), False),
    "a node added with the capability": Hint(
        task("t", capabilities=GPU), None, node(capabilities=GPU), True
    ),
    "a node gone": Hint(task("t"), node(), None, False),
    "capacity grows on a full node": Hint(
        task("t"), node(capacity=1, running=1), node(capacity=2, running=1), True
    ),
    "a full node stays full": Hint(task("t"), node(running=2), node(running=2), False),
    "a capability added": Hint(
        task("t", capabilities=GPU), node(), node(capabilities=GPU | {"x"}), True
    ),
    "an unrelated capability added": Hint(
        task("t", capabilities=GPU), node(), node(capabilities=frozenset({"x"})), False
    ),
    "back from maintenance": Hint(task("t"), node(NodeStatus.MAINTENANCE), node(), True),
    "offline to maintenance": Hint(
        task("t"), node(NodeStatus.OFFLINE), node(NodeStatus.MAINTENANCE), False
    ),
    "load drops under the threshold": Hint(
        task("t"), node(cpu_usage=95.0), node(cpu_usage=40.0), True
    ),
    "load moves but stays over": Hint(task("t"), node(cpu_usage=95.0), node(cpu_usage=85.0), False),
    "load moves but stays under (fitted already)": Hint(
        task("t"), node(cpu_usage=30.0), node(cpu_usage=40.0), False
    ),
    "enough free cpu now": Hint(
        task("t", min_cpu=50.0), node(cpu_usage=60.0), node(cpu_usage=45.0), True
    ),
    "an excluded node changes": Hint(
        task("t", exclude_nodes=frozenset({"n1"})), node(NodeStatus.OFFLINE), node(), False
    ),
    "memory size reported at last": Hint(
        task("t", min_memory=512.0), node(), node(memory_total_mb=4096.0), True
    ),
}


@pytest.mark.parametrize("row", HINTS.values(), ids=HINTS.keys())
def test_may_help(row: Hint) -> None:
    assert may_help(row.task, row.before, row.after, LIMITS) is row.helps


def test_tasks_that_need_the_same_share_a_group() -> None:
    a = task("a", 1, 5.0, capabilities=GPU, preferred_nodes=("n1",))
    b = replace(task("b", 5, 1.0, capabilities=GPU), previous_nodes=("n2",))
    assert needs(a) == needs(b)
    assert needs(a) != needs(task("c", capabilities=GPU, exclude_nodes=frozenset({"n1"})))
    queue = Unschedulable()
    for t in (a, b, task("c")):
        queue.add(t, 0.0)
    assert len(queue) == 3 and queue.groups == 2


def test_a_freed_slot_moves_the_first_tasks_of_each_group_that_fits() -> None:
    queue = Unschedulable()
    for i, prio in enumerate([3, 1, 2, 5]):
        queue.add(task(f"plain-{i}", prio, float(i)), 0.0)
    queue.add(task("gpu", 1, capabilities=GPU), 0.0)
    moved = queue.slot_freed(node(capacity=4, running=2), LIMITS)
    assert moved == ["plain-1", "plain-2"]  # two free slots, by priority; gpu does not fit
    assert "plain-1" not in queue and len(queue) == 3
    assert queue.slot_freed(node(running=2), LIMITS) == []  # no free slot after all
    assert queue.slot_freed(node(capacity=9, capabilities=GPU), LIMITS) == [
        "plain-0",
        "plain-3",
        "gpu",
    ]
    assert len(queue) == 0 and queue.groups == 0


def test_a_node_change_moves_only_what_it_could_help() -> None:
    queue = Unschedulable()
    queue.add(task("gpu", capabilities=GPU), 0.0)
    queue.add(task("any"), 0.0)
    before = node(NodeStatus.OFFLINE)
    assert queue.node_changed(before, before, LIMITS) == []  # nothing changed
    assert queue.node_changed(before, node(), LIMITS) == ["any"]
    assert queue.node_changed(node(), node(capabilities=GPU), LIMITS) == ["gpu"]


def test_discarded_tasks_never_come_back() -> None:
    queue = Unschedulable()
    for i in range(200):
        queue.add(task(f"t{i:03}", at=float(i)), 0.0)
    for i in range(0, 200, 2):
        assert queue.discard(f"t{i:03}")
    assert not queue.discard("t000") and "t000" not in queue
    queue.add(task("t001", at=1.0), 0.0)  # added again: once in the set, moved once
    moved = queue.slot_freed(node(capacity=500), LIMITS)
    assert moved == [f"t{i:03}" for i in range(1, 200, 2)]


def test_the_flush_moves_what_waited_long_and_drops_what_is_gone() -> None:
    queue = Unschedulable()
    queue.add(task("old"), 0.0)
    queue.add(task("gone"), 0.0)
    queue.add(task("new"), 100.0)
    assert queue.flush(50.0, keep=lambda n: n != "gone") == ["old"]
    assert list(queue.entries) == ["new"]
    assert queue.move_all() == ["new"] and len(queue) == 0


def test_changes_count_every_change_of_the_set_and_nothing_else() -> None:
    from web4ai.core.assuming import Assumed

    q, a = Unschedulable(), Assumed()
    q.add(task("a"), 0.0)
    q.add(task("b"), 0.0)
    seen = q.changes
    assert not q.discard("nope") and q.changes == seen  # not there: no change
    q.discard("a")
    assert q.changes > seen
    seen = q.changes
    q.move_all()
    assert q.changes > seen
    a.assume("x", "n1", "1")
    seen = a.changes
    a.forget("x", "2")  # another version's: kept
    assert a.changes == seen
    assert a.expire(lambda name: "1") == [] and a.changes == seen
    assert a.expire(lambda name: "2") and a.changes > seen
