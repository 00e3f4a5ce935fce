"""The lean bodies the processes keep (``web4ai.core.lean``): what is dropped, what is
kept, that what each process reads of a task is the same in its lean body as in the
whole one, and that leaning twice changes nothing."""

from __future__ import annotations

import copy
from typing import Any, cast

import pytest
from kubernetes_asyncio import client

from tests.unit.controllers.objects import lease_body, node_body, task_body
from web4ai.api.presenting import task_entry
from web4ai.core import bodies, lean
from web4ai.core.model import TaskPhase
from web4ai.k8s.cache import ClusterState
from web4ai.operator.callbacks import needs_callback, run_key

Body = dict[str, Any]
T = "2026-01-01T00:00:00.000000Z"
MANAGED = [
    {
        "manager": "web4ai-api",
        "operation": "Update",
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:spec": {"f:taskId": {}, "f:inputData": {".": {}, "f:prompt": {}}}},
    }
]
ATTEMPT_DONE = {
    "nodeId": "n1",
    "agentId": "a1",
    "assignedAt": T,
    "startedAt": T,
    "finishedAt": T,
    "outcome": "failed",
    "errorMessage": "out of memory " * 20,
}
ATTEMPT_OPEN = {"nodeId": "n2", "assignedAt": T}
SCHEDULED = {
    "type": "Scheduled",
    "status": "True",
    "reason": "Assigned",
    "message": "assigned to n2",
    "lastTransitionTime": T,
}


def task(status: Body | None, **spec: Any) -> Body:
    body = task_body(
        "t1",
        inputData={"prompt": "x" * 1024},
        metadata={"owner": "me"},
        priority=3,
        requirements={"capabilities": ["gpu"], "model": "m"},
        **spec,
    )
    body["metadata"] |= {
        "uid": "u-1",
        "resourceVersion": "42",
        "generation": 1,
        "creationTimestamp": T,
        "managedFields": copy.deepcopy(MANAGED),
        "annotations": {lean.LAST_APPLIED: "{...}", "team": "a"},
    }
    if status is not None:
        body["status"] = status
    return body


def finished(phase: TaskPhase, **extra: Any) -> Body:
    return {
        "status": phase.status.value,
        "phase": phase.value,
        "nodeId": "n2",
        "agentId": "a2",
        "assignedNodes": ["n2"],
        "retryCount": 1,
        "assignedAt": T,
        "startedAt": T,
        "completedAt": T,
        "executionTime": 1.5,
        "attempts": [ATTEMPT_DONE, {**ATTEMPT_OPEN, "finishedAt": T, "outcome": "completed"}],
        "result": {"answer": "y" * 2048},
        "performanceMetrics": {"tokens": 12},
        "progress": {"percent": 100.0, "updatedAt": T},
        "conditions": [SCHEDULED],
        **extra,
    }


RUNNING: Body = {
    "status": "active",
    "phase": "running",
    "nodeId": "n2",
    "assignedNodes": ["n2"],
    "retryCount": 1,
    "assignedAt": T,
    "startedAt": T,
    "attempts": [ATTEMPT_DONE, ATTEMPT_OPEN],
    "errorMessage": "out of memory",
    "progress": {"percent": 50.0, "updatedAt": T},
    "conditions": [SCHEDULED],
}
RETRYING: Body = {
    "status": "pending",
    "phase": "retrying",
    "retryCount": 1,
    "attempts": [ATTEMPT_DONE],
    "errorMessage": "out of memory",
    "result": {"partial": True},
    "conditions": [{**SCHEDULED, "status": "False", "reason": "Queued"}],
}
TASKS: dict[str, Body] = {
    "submitted": task(None),
    "retrying": task(RETRYING),
    "running": task(RUNNING),
    "completed": task(finished(TaskPhase.COMPLETED)),
    "failed": task(finished(TaskPhase.FAILED, errorMessage="gave up")),
    "failed, no completedAt": task(
        {k: v for k, v in finished(TaskPhase.FAILED).items() if k != "completedAt"}
    ),
    "completed, callback due": task(finished(TaskPhase.COMPLETED), callbackUrl="http://h/x"),
    "completed, callback sent": task(
        finished(TaskPhase.COMPLETED, callbackDelivered=True), callbackUrl="http://h/x"
    ),
}
LEANS = {"operator": lean.operator_task, "api": lean.api_task}


@pytest.mark.parametrize("kind", LEANS)
@pytest.mark.parametrize("name", TASKS)
def test_idempotent_and_the_input_is_left_alone(kind: str, name: str) -> None:
    body = TASKS[name]
    before = copy.deepcopy(body)
    once = LEANS[kind](body)
    assert body == before
    assert LEANS[kind](once) == once
    meta = once["metadata"]
    assert "managedFields" not in meta and lean.LAST_APPLIED not in meta.get("annotations", {})
    if not bodies.task_phase(bodies.as_task(body)).terminal:
        assert meta["annotations"] == {"team": "a"} and meta["labels"] == body["metadata"]["labels"]
    assert {k: meta[k] for k in ("name", "uid", "resourceVersion", "generation")} == {
        k: body["metadata"][k] for k in ("name", "uid", "resourceVersion", "generation")
    }


def test_objects_lose_managed_fields_and_the_last_applied_annotation_only() -> None:
    node = node_body("n1")
    node["metadata"] |= {"managedFields": MANAGED, "annotations": {lean.LAST_APPLIED: "{}"}}
    out = lean.lean_object(node)
    assert "managedFields" not in out["metadata"] and "annotations" not in out["metadata"]
    assert {**out, "metadata": None} == {**node, "metadata": None}
    plain = lease_body("n1", 0.0)
    assert lean.lean_object(plain) is plain  # nothing to drop: the very body


@pytest.mark.parametrize("name", TASKS)
def test_the_operator_keeps_no_input_result_or_error_text(name: str) -> None:
    out = lean.operator_task(TASKS[name])
    status = out.get("status") or {}
    assert "inputData" not in out["spec"] and "metadata" not in out["spec"]
    for dropped in ("result", "performanceMetrics", "progress", "errorMessage"):
        assert dropped not in status
    if bodies.task_status(bodies.as_task(out)).terminal:
        assert all("errorMessage" not in a for a in status["attempts"])


@pytest.mark.parametrize("name", TASKS)
def test_the_operator_reads_the_same_of_a_lean_task(name: str) -> None:
    whole = bodies.as_task(TASKS[name])
    out = bodies.as_task(lean.operator_task(TASKS[name]))
    assert bodies.task_phase(out) is bodies.task_phase(whole)
    assert bodies.task_node(out) == bodies.task_node(whole)
    if bodies.task_phase(whole).waiting:  # what the scheduler reads
        assert bodies.task_from_body(out) == bodies.task_from_body(whole)
    assert bodies.needs_upgrade(out) == bodies.needs_upgrade(whole)
    assert needs_callback(out) == needs_callback(whole)
    assert run_key(out) == run_key(whole)
    kept, before = bodies.status_of(out), bodies.status_of(whole)

    def counted(status: Body) -> list[tuple[Any, ...]]:
        return [(a.get("nodeId"), a.get("outcome")) for a in status.get("attempts") or []]

    assert counted(dict(kept)) == counted(dict(before))
    if not bodies.task_phase(whole).terminal:
        # its own writes (binding, requeue, failure) write these back whole
        assert kept.get("attempts") == before.get("attempts")
        assert kept.get("conditions") == before.get("conditions")
    else:  # the conditions only while the callback's write may set one
        assert ("conditions" in kept) == needs_callback(whole)


@pytest.mark.parametrize("name", TASKS)
def test_the_api_keeps_unfinished_tasks_whole_and_lists_the_same(name: str) -> None:
    whole = TASKS[name]
    out = lean.api_task(whole)
    assert task_entry(bodies.as_task(out)) == task_entry(bodies.as_task(whole))
    trimmed = lean.api_trimmed(bodies.as_task(out))
    assert trimmed == bodies.task_phase(bodies.as_task(whole)).terminal
    if not trimmed:  # all but the metadata's bookkeeping: a node's poll hands it out
        assert {**out, "metadata": None} == {**whole, "metadata": None}
        return
    assert "inputData" not in out["spec"] and "metadata" not in out["spec"]
    for dropped in ("result", "performanceMetrics", "progress", "attempts"):
        assert dropped not in out["status"]
    # the lists' order: completedAt, else assignedAt
    kept, before = out["status"], whole["status"]
    assert (kept.get("completedAt") or kept.get("assignedAt")) == (
        before.get("completedAt") or before.get("assignedAt")
    )
    # what the failed list shows, and what a retry's condition write reads
    assert out["status"].get("errorMessage") == whole["status"].get("errorMessage")
    assert out["status"]["conditions"] == whole["status"]["conditions"]


@pytest.mark.parametrize("kind", LEANS)
def test_the_stores_hold_lean_bodies_and_hooks_see_the_incoming_one(kind: str) -> None:
    state = (
        ClusterState.fed("ns")
        if kind == "operator"
        else ClusterState(cast(client.ApiClient, None), "ns")
    )
    seen: list[tuple[Body, Body | None]] = []
    state.on_task_change.append(lambda new, old: seen.append((dict(new), old and dict(old))))
    running, done = task(RUNNING), task(finished(TaskPhase.COMPLETED))
    done["metadata"]["resourceVersion"] = "43"
    state.tasks.apply_list([running], "42")  # a list
    state.tasks.apply_event("MODIFIED", done)  # a watch event
    name = bodies.name_of(bodies.as_task(done))
    assert state.tasks.store[name] == LEANS[kind](done)
    assert seen[-1] == (done, LEANS[kind](running))
    [indexed] = state.tasks_with(TaskPhase.COMPLETED)
    assert indexed is state.tasks.store[name]
    again = copy.deepcopy(done)  # our own write's result
    again["metadata"]["resourceVersion"] = "44"
    assert state.record_task(again) is cast(object, again)  # answered whole
    assert state.tasks.store[name] == LEANS[kind](again)
    node = node_body("n1")
    node["metadata"] |= {"managedFields": MANAGED, "resourceVersion": "1"}
    state.nodes.apply_event("ADDED", node)
    assert "managedFields" not in state.nodes.store[bodies.name_of(node)]["metadata"]
