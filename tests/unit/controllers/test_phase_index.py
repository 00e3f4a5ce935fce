"""ClusterState keeps the tasks by phase (and by the node they name) as the store
changes, whatever feeds it: ``tasks_with`` and ``tasks_on`` must always equal a scan
of the store."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest

from tests.unit.controllers.objects import node_body, task_body
from web4ai.core import bodies, patches
from web4ai.core.model import TaskPhase
from web4ai.k8s.cache import ClusterState
from web4ai.k8s.store import Body

_versions = itertools.count(1)


def version(body: Body, phase: TaskPhase, node: str | None = None) -> Body:
    n = next(_versions)
    new = {**body, "metadata": {**body["metadata"], "resourceVersion": str(n)}}
    new["status"] = {**patches.phase_fields(phase), **({"nodeId": node} if node else {})}
    if phase.status.terminal:
        new["status"]["completedAt"] = bodies.format_time(1_000_000.0 + n)
        new["status"]["executionTime"] = n / 10
    if node:
        new["status"]["assignedNodes"] = [node]
    return new


def scanned(state: ClusterState, *phases: TaskPhase) -> set[str]:
    return {
        n for n, b in state.tasks.store.items() if bodies.task_phase(bodies.as_task(b)) in phases
    }


def indexed(state: ClusterState, *phases: TaskPhase) -> set[str]:
    return {bodies.name_of(b) for b in state.tasks_with(*phases)}


def agree(state: ClusterState) -> None:
    for phase in TaskPhase:
        assert indexed(state, phase) == scanned(state, phase), phase
    assert len(state.tasks_with(*TaskPhase)) == len(state.tasks.store)
    stored = list(state.tasks.store.values())
    statuses = Counter(bodies.task_status(bodies.as_task(b)) for b in stored)
    assert +state.task_counts() == statuses
    times = [float(b["status"]["executionTime"]) for b in stored if "executionTime" in b["status"]]
    mean = state.mean_execution_time()
    assert (mean is None) if not times else mean == pytest.approx(sum(times) / len(times))
    done = [bodies.parse_time(b["status"].get("completedAt")) for b in stored]
    for since in (0.0, 1_000_000.0 + next(_versions) - 3):
        assert state.finished_since(since) == sum(1 for d in done if d is not None and d >= since)
    tasks = [bodies.as_task(b) for b in stored]
    bound = Counter(
        bodies.task_node(b) for b in tasks if bodies.task_phase(b).bound and bodies.task_node(b)
    )
    assert state.bound_counts() == bound
    for node in {bodies.task_node(b) or "nobody" for b in tasks} | {"nobody"}:
        on = [bodies.name_of(b) for b in state.tasks_on(node)]
        assert sorted(on) == sorted(bodies.name_of(b) for b in tasks if bodies.task_node(b) == node)
    for view in state.node_views().values():
        assert view.running == bound[view.node_id]
    for phase in TaskPhase:  # excluding names is a set difference, not a different answer
        some = set(itertools.islice(scanned(state, phase), 1))
        got = {bodies.name_of(b) for b in state.tasks_with(phase, excluding=some)}
        assert got == scanned(state, phase) - some


@pytest.mark.parametrize("feed", ["event", "record", "list"])
def test_the_phase_index_follows_every_way_the_store_changes(feed: str) -> None:
    state = ClusterState.fed("ns")
    state.nodes.apply_list([node_body("n1", agents=4), node_body("n2")], "0")
    a, b = task_body("a"), task_body("b")
    first = [version(a, TaskPhase.QUEUED), version(b, TaskPhase.QUEUED)]
    state.tasks.apply_list(first, "0")
    agree(state)
    bound = version(first[0], TaskPhase.ASSIGNED, "n1")
    if feed == "event":
        state.tasks.apply_event("MODIFIED", bound)
    elif feed == "record":
        state.record_task(bound)
    else:
        state.tasks.apply_list([bound, first[1]], bound["metadata"]["resourceVersion"])
    agree(state)
    assert indexed(state, TaskPhase.QUEUED) == {bodies.name_of(first[1])}
    assert state.bound_counts() == {"n1": 1}
    # an older copy (the watch behind our own write) never moves it back
    state.tasks.apply_event("MODIFIED", first[0])
    agree(state)
    assert state.bound_counts() == {"n1": 1}
    done = version(bound, TaskPhase.COMPLETED, "n1")
    state.tasks.apply_event("MODIFIED", done)
    agree(state)
    assert state.bound_counts() == {}
    if feed == "list":  # gone from a relist
        state.tasks.apply_list([first[1]], str(next(_versions)))
    else:
        state.tasks.apply_event("DELETED", done)
    agree(state)
    assert indexed(state, *TaskPhase) == {bodies.name_of(first[1])}


def test_node_views_follow_node_changes_and_counts() -> None:
    state = ClusterState.fed("ns")
    n1 = node_body("n1", agents=4)
    state.nodes.apply_list([n1, node_body("n2")], "1")
    first = state.node_views()
    assert first["n1"].capacity == 4 and first["n1"].running == 0
    assert state.node_views()["n1"] is first["n1"]  # unchanged: the same view
    state.record_task(version(task_body("t"), TaskPhase.ASSIGNED, "n1"))
    assert state.node_views()["n1"].running == 1
    n1 = {**n1, "metadata": {**n1["metadata"], "resourceVersion": "2"}}
    n1["spec"] = {**n1["spec"], "agentsCount": 2}
    state.nodes.apply_event("MODIFIED", n1)
    view = state.node_views()["n1"]
    assert (view.capacity, view.running) == (2, 1)
    gone = {**n1, "metadata": {**n1["metadata"], "resourceVersion": "3", "deletionTimestamp": "x"}}
    state.nodes.apply_event("MODIFIED", gone)
    assert set(state.node_views()) == {"n2"}
    state.nodes.apply_event("DELETED", gone)
    assert set(state.node_views()) == {"n2"}
