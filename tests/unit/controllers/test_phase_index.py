"""ClusterState keeps the tasks by phase as the store changes, whatever feeds it:
``tasks_with`` must always equal a scan of the store."""

from __future__ import annotations

import itertools

import pytest

from tests.unit.controllers.fakes import task_body
from web4ai.core.model import TaskPhase
from web4ai.k8s import resources as res
from web4ai.k8s.cache import ClusterState
from web4ai.k8s.store import Body

_versions = itertools.count(1)


def version(body: Body, phase: TaskPhase, node: str | None = None) -> Body:
    new = {**body, "metadata": {**body["metadata"], "resourceVersion": str(next(_versions))}}
    new["status"] = {**res.phase_fields(phase), **({"nodeId": node} if node else {})}
    if node:
        new["status"]["assignedNodes"] = [node]
    return new


def scanned(state: ClusterState, *phases: TaskPhase) -> set[str]:
    return {n for n, b in state.tasks.store.items() if res.task_phase(b) in phases}


def indexed(state: ClusterState, *phases: TaskPhase) -> set[str]:
    return {res.name_of(b) for b in state.tasks_with(*phases)}


def agree(state: ClusterState) -> None:
    for phase in TaskPhase:
        assert indexed(state, phase) == scanned(state, phase), phase
    assert len(state.tasks_with(*TaskPhase)) == len(state.tasks.store)


@pytest.mark.parametrize("feed", ["event", "record", "list"])
def test_the_phase_index_follows_every_way_the_store_changes(feed: str) -> None:
    state = ClusterState.fed("ns")
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
    assert indexed(state, TaskPhase.QUEUED) == {res.name_of(first[1])}
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
    assert indexed(state, *TaskPhase) == {res.name_of(first[1])}
