"""POST /tasks/{id}/progress on the real stack: seen over REST, the WebSocket and the
CLI; refused from the wrong node and on a task that is not active; the writes it costs
the API server stay bounded under 50 reports a second."""

from __future__ import annotations

import asyncio
import json
import math
import os
import sys
import time
from typing import Any

import pytest
import websockets
from kubernetes_asyncio import client, watch

from tests.conftest import ADMIN_KEY, Stack
from tests.integration.apiclient import Http, assert_error
from tests.integration.helpers import eventually
from web4ai.api.auth import KeyStore
from web4ai.core.ids import IdKind, identity
from web4ai.core.resources import GROUP, TASKS, VERSION


@pytest.fixture
def http(stack: Stack) -> Http:
    return Http(stack.api.base, stack.headers)


async def running_on(http: Http, node: str, task_id: str) -> None:
    """Register ``node`` (if new), submit a task only it takes, and start it there."""
    await http.post(
        f"/nodes/{node}/register", {"host": "127.0.0.1", "capabilities": [f"only-{node}"]}
    )
    status, body = await http.post(
        "/tasks",
        {
            "task_id": task_id,
            "task_type": "long",
            "requirements": {"capabilities": [f"only-{node}"]},
        },
    )
    assert status == 200, body

    async def started() -> bool:
        status, _ = await http.post(f"/tasks/{task_id}/start", {"node_id": node})
        return status == 200

    await eventually(started)


async def progress_of(http: Http, task_id: str) -> dict[str, Any] | None:
    _, body = await http.get(f"/tasks/{task_id}")
    progress: dict[str, Any] | None = body["task"].get("progress")
    return progress


async def test_progress_over_rest_websocket_and_cli(stack: Stack, http: Http) -> None:
    await running_on(http, "prog-1", "prog-task")
    ws = await websockets.connect(stack.api.ws, additional_headers=stack.headers)
    cli = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "web4ai", "tasks", "wait", "prog-task", "--wait-timeout", "120"],
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "WEB4AI_URL": stack.api.base, "WEB4AI_API_KEY": ADMIN_KEY},
    )
    assert cli.stderr is not None
    seen: list[str] = []

    async def cli_shows(text: str) -> None:
        """Read the CLI's bars (stderr, not a terminal: one block per change) until one
        line holds ``text``."""
        while not any(text in line for line in seen):
            line = await asyncio.wait_for(cli.stderr.readline(), 60)  # type: ignore[union-attr]
            assert line, seen
            seen.append(line.decode())

    try:
        await cli_shows("prog-task  [........................]   0%  running on prog-1")
        await ws.recv()  # initial_status
        status, body = await http.post(
            "/tasks/prog-task/progress",
            {"node_id": "prog-1", "percent": 30, "message": "30 of 100 records"},
        )
        assert status == 200, body
        assert body["progress"]["percent"] == 30
        # the WebSocket at once
        while True:
            msg = json.loads(await asyncio.wait_for(ws.recv(), 20))
            if msg["type"] == "task_progress" and msg["data"]["task_id"] == "prog-task":
                break
        assert msg["data"]["percent"] == 30 and msg["data"]["node_id"] == "prog-1"
        assert msg["data"]["message"] == "30 of 100 records"
        # REST: the first report is written at once
        progress = await progress_of(http, "prog-task")
        assert progress is not None
        assert (progress["percent"], progress["message"]) == (30, "30 of 100 records")
        assert isinstance(progress["updated_at"], float)
        # the listing of active tasks shows it too
        _, listing = await http.get("/tasks?status=active&limit=1000")
        entry = next(t for t in listing["tasks"]["active"] if t["task_id"] == "prog-task")
        assert entry["progress"]["percent"] == 30
        # and the CLI, with the node's message
        await cli_shows("prog-task  [#######.................]  30%  running on prog-1: 30 of")
        # a later report within 2 s is written when the 2 s are up (without a message)
        await http.post("/tasks/prog-task/progress", {"node_id": "prog-1", "percent": 60})

        async def sixty() -> dict[str, Any] | None:
            p = await progress_of(http, "prog-task")
            return p if p is not None and p["percent"] == 60 else None

        assert "message" not in await eventually(sixty)
        await cli_shows("prog-task  [##############..........]  60%  running on prog-1\n")
        status, _ = await http.post(
            "/tasks/prog-task/result", {"node_id": "prog-1", "status": "completed"}
        )
        assert status == 200
        await cli_shows("prog-task  [########################] 100%  completed on prog-1")
        await asyncio.wait_for(cli.wait(), 60)
    finally:
        if cli.returncode is None:
            cli.kill()
            await cli.communicate()
        await ws.close()
    assert cli.returncode == 0, seen


async def test_progress_is_refused_unless_the_task_is_active_on_the_node(
    stack: Stack, http: Http, api: client.ApiClient
) -> None:
    await running_on(http, "prog-2", "prog-held")
    # another node: not its task
    await http.post("/nodes/prog-3/register", {"host": "127.0.0.1"})
    status, body = await http.post("/tasks/prog-held/progress", {"node_id": "prog-3", "percent": 5})
    assert_error(status, body, 409, "TASK_NOT_ASSIGNED")
    # a node key acts only as its own node
    store = KeyStore(api, stack.namespace)
    await store.add("prog-3", "node", "prog-3-key", node_id="prog-3")
    node3 = Http(stack.api.base, {"Authorization": "Bearer prog-3-key"})

    async def keyed() -> bool:
        status, _ = await node3.post("/nodes/prog-3/heartbeat", {})
        return status == 200

    await eventually(keyed, within=30)  # the API watches the key Secret
    status, body = await node3.post(
        "/tasks/prog-held/progress", {"node_id": "prog-2", "percent": 5}
    )
    assert_error(status, body, 403, "FORBIDDEN")
    status, body = await node3.post(
        "/tasks/prog-held/progress", {"node_id": "prog-3", "percent": 5}
    )
    assert_error(status, body, 409, "TASK_NOT_ASSIGNED")
    # not active: pending, finished, unknown
    status, body = await http.post(
        "/tasks",
        {"task_id": "prog-pending", "task_type": "x", "requirements": {"capabilities": ["nobody"]}},
    )
    assert status == 200
    status, body = await http.post(
        "/tasks/prog-pending/progress", {"node_id": "prog-2", "percent": 5}
    )
    assert_error(status, body, 409, "TASK_NOT_ASSIGNED")
    await http.post("/tasks/prog-held/result", {"node_id": "prog-2", "status": "completed"})
    status, body = await http.post("/tasks/prog-held/progress", {"node_id": "prog-2", "percent": 5})
    assert_error(status, body, 409, "TASK_FINISHED")
    status, body = await http.post(
        "/tasks/prog-nothing/progress", {"node_id": "prog-2", "percent": 5}
    )
    assert_error(status, body, 404, "TASK_NOT_FOUND")
    assert (await http.post("/tasks/prog-pending/cancel"))[0] == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"node_id": "prog-4", "percent": 101}, "percent"),
        ({"node_id": "prog-4", "percent": -1}, "percent"),
        ({"node_id": "prog-4", "percent": "50"}, "percent"),
        ({"node_id": "prog-4", "percent": None}, "percent"),
        ({"node_id": "prog-4"}, "percent"),
        ({"percent": 5}, "node_id"),
        ({"node_id": "prog-4", "percent": 5, "message": "m" * 1025}, "message"),
    ],
)
async def test_bad_progress_gets_the_envelope(http: Http, body: dict[str, Any], field: str) -> None:
    status, answer = await http.post("/tasks/any-task/progress", body)
    assert_error(status, answer, 400, "INVALID_REQUEST")
    assert [e["field"] for e in answer["details"]["errors"]] == [field]
    status, answer, _ = await http.call("POST", "/tasks/any-task/progress", data=b'{"percent": NaN')
    assert_error(status, answer, 400, "INVALID_JSON")


async def test_fifty_reports_a_second_cost_a_bounded_number_of_writes(
    stack: Stack, http: Http, api: client.ApiClient
) -> None:
    await running_on(http, "prog-5", "prog-busy")
    name = identity(IdKind.TASK, "prog-busy").name
    co = client.CustomObjectsApi(api)
    listed = await co.list_namespaced_custom_object(
        GROUP, VERSION, stack.namespace, TASKS.plural, field_selector=f"metadata.name={name}"
    )
    writes: list[dict[str, Any]] = []

    async def record() -> None:
        w = watch.Watch()
        async for event in w.stream(
            co.list_namespaced_custom_object,
            GROUP,
            VERSION,
            stack.namespace,
            TASKS.plural,
            field_selector=f"metadata.name={name}",
            resource_version=listed["metadata"]["resourceVersion"],
            timeout_seconds=120,
        ):
            if event["type"] == "MODIFIED":
                writes.append((event["object"].get("status") or {}).get("progress") or {})

    recorder = asyncio.create_task(record())
    started = time.monotonic()
    sent = 150
    for i in range(sent):  # 50 a second for 3 s
        status, _ = await http.post(
            "/tasks/prog-busy/progress",
            {"node_id": "prog-5", "percent": round(100 * (i + 1) / sent, 2)},
        )
        assert status == 200
        await asyncio.sleep(max(0.0, started + (i + 1) / 50 - time.monotonic()))
    elapsed = time.monotonic() - started

    async def last_written() -> bool:
        return bool(writes) and writes[-1].get("percent") == 100

    await eventually(last_written)  # the last report wins
    recorder.cancel()
    # one write at once, then at most one every 2 s (the last one at the end)
    assert 2 <= len(writes) <= math.ceil(elapsed / 2) + 2, (len(writes), elapsed)
    assert len(writes) < sent / 10
    await http.post("/tasks/prog-busy/result", {"node_id": "prog-5", "status": "completed"})
