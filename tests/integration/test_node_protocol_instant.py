"""The node protocol's shortcut for instant tasks, against the real API server: a
result may finish a task its node never started (one write to the cluster instead of
two), and then records the start as /start would have."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

import pytest

from tests.conftest import Stack
from tests.integration.apiclient import Http, assert_error, submit
from tests.integration.helpers import eventually

REGISTRATION = {"host": "127.0.0.1", "port": 8090, "max_concurrent_tasks": 50}


@pytest.fixture
def http(stack: Stack) -> Http:
    return Http(stack.api.base, stack.headers)


async def offered_to(http: Http, node_id: str, task_id: str) -> None:
    async def offered() -> bool:
        _, body = await http.get(f"/nodes/{node_id}/tasks?wait=2")
        return any(t["task_id"] == task_id for t in body["tasks"])

    await eventually(offered)


async def test_a_result_finishes_an_assigned_task_and_records_its_start(http: Http) -> None:
    await http.post("/nodes/instant-1/register", {**REGISTRATION, "capabilities": ["instant"]})
    await submit(http, "instant-task", "instant")
    await offered_to(http, "instant-1", "instant-task")
    _, body = await http.get("/tasks/instant-task")
    assert body["task"]["phase"] == "assigned"
    status, body = await http.post(
        "/tasks/instant-task/result",
        {
            "node_id": "instant-1",
            "agent_id": "instant-1-agent-0",
            "status": "completed",
            "result": {"ok": True},
            "execution_time": 0.002,
        },
    )
    assert status == 200, body
    task = body["task"]
    assert (task["status"], task["phase"], task["result"], task["agent_id"]) == (
        "completed",
        "completed",
        {"ok": True},
        "instant-1-agent-0",
    )
    assert task["started_at"] is not None
    assert task["assigned_at"] <= task["started_at"] <= task["completed_at"]
    attempt = task["attempts"][-1]
    assert (attempt["node_id"], attempt["agent_id"], attempt["outcome"]) == (
        "instant-1",
        "instant-1-agent-0",
        "completed",
    )
    assert attempt["assigned_at"] <= attempt["started_at"] <= attempt["finished_at"]
    # finished: no second result, and it is no longer offered
    status, body = await http.post(
        "/tasks/instant-task/result", {"node_id": "instant-1", "status": "completed"}
    )
    assert_error(status, body, 409, "TASK_FINISHED")
    _, body = await http.get("/nodes/instant-1/tasks")
    assert "instant-task" not in [t["task_id"] for t in body["tasks"]]


async def test_a_failed_instant_result_is_retried_with_the_attempt_started(http: Http) -> None:
    await http.post("/nodes/instant-2/register", {**REGISTRATION, "capabilities": ["instant2"]})
    await submit(http, "instant-flaky", "instant2", max_retries=1)
    await offered_to(http, "instant-2", "instant-flaky")
    status, body = await http.post(
        "/tasks/instant-flaky/result",
        {
            "node_id": "instant-2",
            "agent_id": "instant-2-agent-1",
            "status": "failed",
            "error_message": "boom",
            "execution_time": 0.001,
        },
    )
    assert status == 200, body
    task = body["task"]
    assert (task["status"], task["phase"], task["retry_count"]) == ("pending", "retrying", 1)
    assert task.get("started_at") is None and task.get("agent_id") is None  # unbound: retry
    attempt = task["attempts"][0]
    assert (attempt["agent_id"], attempt["outcome"]) == ("instant-2-agent-1", "failed")
    assert attempt["started_at"] is not None


async def test_a_result_from_another_node_is_refused_before_any_start(http: Http) -> None:
    await http.post("/nodes/instant-3/register", {**REGISTRATION, "capabilities": ["instant3"]})
    await http.post("/nodes/instant-4/register", {**REGISTRATION, "capabilities": ["other3"]})
    await submit(http, "instant-other", "instant3")
    await offered_to(http, "instant-3", "instant-other")
    status, body = await http.post(
        "/tasks/instant-other/result", {"node_id": "instant-4", "status": "completed"}
    )
    assert_error(status, body, 409, "TASK_NOT_ASSIGNED")
    status, body = await http.post(
        "/tasks/instant-other/result",
        {"node_id": "instant-3", "status": "completed", "agent_id": 7},
    )
    assert_error(status, body, 400, "INVALID_REQUEST")


async def test_a_poll_leaves_out_the_tasks_its_node_holds(http: Http) -> None:
    """An instant task stays assigned until its result; a node that polls again meanwhile
    names it in ``held`` and is neither handed it again nor answered at once for it."""
    await http.post("/nodes/instant-5/register", {**REGISTRATION, "capabilities": ["instant5"]})
    await submit(http, "instant-held", "instant5")
    await offered_to(http, "instant-5", "instant-held")
    _, body = await http.get("/nodes/instant-5/tasks?held=instant-held,unknown-task")
    assert body["tasks"] == []
    _, body = await http.get("/nodes/instant-5/tasks")  # without held: offered as before
    assert [t["task_id"] for t in body["tasks"]] == ["instant-held"]

    poll = asyncio.create_task(http.get("/nodes/instant-5/tasks?wait=30&held=instant-held"))
    await submit(http, "instant-next", "instant5")
    _, body = await asyncio.wait_for(poll, 30)
    assert [t["task_id"] for t in body["tasks"]] == ["instant-next"]

    status, body = await http.get("/nodes/instant-5/tasks?held=" + "x" * 6001)
    assert_error(status, body, 400, "INVALID_REQUEST")
    # percent-encoded, a held list at its limit is a request line of up to 72,000 bytes
    # (aiohttp refuses lines over 8,190 with a plain-text 400 of its own)
    for held in ("\U0001f600" * 6000, ":" * 6001, "\U0001f600" * 6001):
        status, body = await http.get(f"/nodes/instant-5/tasks?held={quote(held)}")
        if len(held) > 6000:
            assert_error(status, body, 400, "INVALID_REQUEST")
        else:
            assert status == 200, body
