"""Lean memory (issue 21, point 4) on a real stack: the stores keep lean bodies (no
managedFields; the operator no input, result or error texts; the API no input or
result of a finished task), while ``GET /tasks/{id}`` still shows a finished task
whole, exactly as the API server has it, and a node's poll still hands out the input."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from kubernetes_asyncio import client

from tests.conftest import Stack
from tests.integration.apiclient import Http, submit
from tests.integration.helpers import eventually, get_task
from web4ai.core import bodies, lean
from web4ai.core.model import TaskPhase
from web4ai.core.resources import TASKS
from web4ai.core.schemas import public
from web4ai.k8s.cache import ClusterState
from web4ai.k8s.listwatch import ListWatch

INPUT = {"prompt": "p" * 1024, "n": 3}
RESULT = {"answer": "a" * 512}


@contextlib.asynccontextmanager
async def stores(
    api: client.ApiClient, ns: str
) -> AsyncIterator[tuple[ClusterState, ClusterState]]:
    """The API's stores (its informers) and the operator's task store (its list+watch),
    fed from the real API server in pages of one object (continue tokens at work)."""
    api_state = ClusterState(api, ns)
    operator_state = ClusterState.fed(ns)
    feeds = [
        ListWatch(api, TASKS, ns, api_state.tasks, page_size=1),
        ListWatch(api, TASKS, ns, operator_state.tasks, page_size=1),
    ]
    jobs = [asyncio.create_task(f.run()) for f in feeds]
    try:
        yield api_state, operator_state
    finally:
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)


async def run_through(http: Http, node: str, task_id: str, outcome: str) -> dict[str, Any]:
    """A node takes ``task_id`` from its poll and reports ``outcome``; returns the task
    as the poll handed it out."""
    polled: dict[str, Any] = await eventually(
        lambda: poll(http, node, task_id), within=30, interval=0.2
    )
    status, _ = await http.post(f"/tasks/{task_id}/start", {"node_id": node})
    assert status == 200
    report: dict[str, Any] = {"node_id": node, "status": outcome}
    report |= {"result": RESULT} if outcome == "completed" else {"error_message": "boom"}
    status, _ = await http.post(f"/tasks/{task_id}/result", report)
    assert status == 200
    return polled


async def poll(http: Http, node: str, task_id: str) -> dict[str, Any] | None:
    _, body = await http.get(f"/nodes/{node}/tasks")
    return next((t for t in body["tasks"] if t["task_id"] == task_id), None)


@pytest.mark.parametrize("outcome", ["completed", "failed"])
async def test_a_finished_task_is_shown_whole_and_kept_lean(
    stack: Stack, http: Http, api: client.ApiClient, outcome: str
) -> None:
    node, task_id = f"lean-node-{outcome}", f"lean-{outcome}"
    status, _ = await http.post(
        f"/nodes/{node}/register",
        {"host": "10.0.0.9", "port": 8090, "agents_count": 1, "capabilities": [f"cap-{outcome}"]},
    )
    assert status == 200
    await submit(http, task_id, f"cap-{outcome}", input_data=INPUT, max_retries=0)
    polled = await run_through(http, node, task_id, outcome)
    assert polled["input_data"] == INPUT  # the poll hands out the input from the store

    async def finished() -> dict[str, Any] | None:
        _, body = await http.get(f"/tasks/{task_id}")
        task: dict[str, Any] = body["task"]
        return task if task["status"] == outcome else None

    shown = await eventually(finished, within=30)
    raw = await get_task(api, stack.namespace, task_id)
    # exactly what the API server has, as the API shows a task
    assert shown == public.task_public(bodies.as_task(raw))
    assert shown["input_data"] == INPUT and len(shown["attempts"]) == 1
    if outcome == "completed":
        assert shown["result"] == RESULT
    else:
        assert "boom" in shown["error_message"]
    _, again = await http.get(f"/tasks/{task_id}")  # the cached whole body: the same
    assert again["task"] == shown
    # the list shows it as before
    _, listing = await http.get(f"/tasks?status={outcome}")
    assert task_id in {t["task_id"] for t in listing["tasks"][outcome]}

    name = bodies.name_of(raw)
    async with stores(api, stack.namespace) as (api_state, operator_state):

        async def held() -> bool:
            kept = [s.tasks.store.get(name) for s in (api_state, operator_state)]
            return all(
                b is not None and bodies.task_phase(bodies.as_task(b)).terminal for b in kept
            )

        await eventually(held, within=30)
        kept_api = api_state.tasks.store[name]
        kept_operator = operator_state.tasks.store[name]
    now = await get_task(api, stack.namespace, task_id)
    assert "managedFields" in now["metadata"]  # the API server keeps them; we do not
    assert kept_api == lean.api_task(now) and kept_operator == lean.operator_task(now)
    for kept in (kept_api, kept_operator):
        assert "managedFields" not in kept["metadata"]
        assert "inputData" not in kept["spec"] and "result" not in kept["status"]
    assert "attempts" not in kept_api["status"]
    assert "errorMessage" not in kept_operator["status"]
    assert all("errorMessage" not in a for a in kept_operator["status"]["attempts"])
    # what the lists show of it is still there in the API's lean body
    assert kept_api["status"].get("errorMessage") == now["status"].get("errorMessage")


async def test_an_unfinished_task_is_kept_whole_by_the_api_only(
    stack: Stack, http: Http, api: client.ApiClient
) -> None:
    await submit(http, "lean-pending", "cap-nobody-has", input_data=INPUT)
    raw = await get_task(api, stack.namespace, "lean-pending")
    name = bodies.name_of(raw)
    async with stores(api, stack.namespace) as (api_state, operator_state):

        async def held() -> bool:
            return name in api_state.tasks.store and name in operator_state.tasks.store

        await eventually(held, within=30)
        kept_api = api_state.tasks.store[name]
        kept_operator = operator_state.tasks.store[name]
    assert kept_api["spec"]["inputData"] == INPUT  # a node's poll hands it out from here
    assert "managedFields" not in kept_api["metadata"]
    assert "inputData" not in kept_operator["spec"]
    assert bodies.task_phase(bodies.as_task(kept_operator)) is TaskPhase.QUEUED
    _, shown = await http.get("/tasks/lean-pending")
    assert shown["task"]["input_data"] == INPUT
