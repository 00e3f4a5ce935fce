"""What the seed documents is what clients get (issue 11), through the REST API and
the WebSocket of a real stack: the four statuses with a finer phase, the current
holder in assigned_nodes, stable list shapes, an admin's node status that sticks,
config keys that act, and cancel, retry and drain. Nodes here are plain HTTP
clients speaking the node protocol."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
import websockets
import websockets.exceptions
from kubernetes_asyncio import client

from tests.conftest import Stack
from tests.integration.apiclient import Http, assert_error, submit
from tests.integration.helpers import co, eventually
from web4ai.core.resources import GROUP, TASKS, VERSION

REGISTRATION = {"host": "10.0.0.7", "port": 8090, "agents_count": 1}


@pytest.fixture
def http(stack: Stack) -> Http:
    return Http(stack.api.base, stack.headers)


async def register(http: Http, node_id: str, capability: str) -> None:
    status, _ = await http.post(
        f"/nodes/{node_id}/register", {**REGISTRATION, "capabilities": [capability]}
    )
    assert status == 200


async def wait_for(http: Http, task_id: str, **fields: Any) -> dict[str, Any]:
    """Poll GET /tasks/{id} as a client written from the seed would."""

    async def probe() -> dict[str, Any] | None:
        _, body = await http.get(f"/tasks/{task_id}")
        task: dict[str, Any] = body["task"]
        return task if all(task.get(k) == v for k, v in fields.items()) else None

    result: dict[str, Any] = await eventually(probe, within=30)
    return result


async def test_a_seed_client_sees_pending_active_completed(stack: Stack, http: Http) -> None:
    await register(http, "st-node", "cap-st")
    async with aiohttp.ClientSession(headers=stack.headers) as session:
        ws = await session.ws_connect(stack.api.base.replace("http", "ws") + "/ws")
        await submit(http, "st-task", "cap-st")
        # the seed's poll loop: wait for active, then for completed
        task = await wait_for(http, "st-task", status="active")
        assert task["phase"] == "assigned" and task["assigned_nodes"] == ["st-node"]
        status, body = await http.post("/tasks/st-task/start", {"node_id": "st-node"})
        assert (body["task"]["status"], body["task"]["phase"]) == ("active", "running")
        _, listing = await http.get("/tasks?status=active")
        active = {t["task_id"]: t for t in listing["tasks"]["active"]}
        assert active["st-task"]["phase"] == "running"
        status, body = await http.post(
            "/tasks/st-task/result",
            {"node_id": "st-node", "status": "completed", "result": {"ok": True}},
        )
        assert status == 200 and body["task"]["status"] == "completed"
        task = await wait_for(http, "st-task", status="completed")
        assert task["phase"] == "completed" and task["assigned_nodes"] == ["st-node"]
        assert [a["outcome"] for a in task["attempts"]] == ["completed"]
        seen: dict[str, str] = {}
        while "task_completed" not in seen:
            msg = json.loads((await ws.receive(timeout=20)).data)
            data = msg.get("data") or {}
            if isinstance(data, dict) and data.get("task_id") == "st-task":
                seen[msg["type"]] = data["status"]
        await ws.close()
    # every WebSocket message about the task speaks the seed's words
    assert set(seen.values()) <= {"pending", "active", "completed", "failed"}
    assert seen["task_assigned"] == "active" and seen["task_completed"] == "completed"


async def test_assigned_nodes_is_the_current_holder_and_attempts_the_history(
    http: Http,
) -> None:
    await register(http, "hist-a", "cap-hist")
    await register(http, "hist-b", "cap-hist")
    await submit(http, "hist-task", "cap-hist", max_retries=2)
    task = await wait_for(http, "hist-task", status="active")
    first = task["node_id"]
    await http.post(
        "/tasks/hist-task/result",
        {"node_id": first, "status": "failed", "error_message": "Traceback:\n  boom"},
    )
    task = await wait_for(http, "hist-task", status="active", retry_count=1)
    second = task["node_id"]
    assert second != first  # a retry goes to a node it has not run on
    assert task["assigned_nodes"] == [second]
    assert [(a["node_id"], a["outcome"]) for a in task["attempts"]] == [
        (first, "failed"),
        (second, None),
    ]
    assert task["attempts"][0]["error_message"] == "Traceback:\n  boom"


async def test_lists_always_carry_the_four_buckets(http: Http) -> None:
    for query in ("", "?status=pending", "?status=active", "?status=failed", "?phase=queued"):
        status, body = await http.get(f"/tasks{query}")
        assert status == 200
        assert set(body["tasks"]) == {"pending", "active", "completed", "failed"}, query
        assert set(body["summary"]) == {
            "pending_count",
            "active_count",
            "completed_count",
            "failed_count",
        }
    await submit(http, "never-fits", "cap-nowhere")
    _, body = await http.get("/tasks?phase=queued")
    assert "never-fits" in [t["task_id"] for t in body["tasks"]["pending"]]
    _, body = await http.get("/tasks?phase=running")
    assert "never-fits" not in [t["task_id"] for g in body["tasks"].values() for t in g]
    status, body = await http.get("/tasks?phase=sleeping")
    assert_error(status, body, 400, "INVALID_REQUEST")


async def test_an_admins_node_status_holds_over_heartbeats(http: Http) -> None:
    await register(http, "held", "cap-held")
    status, body = await http.put("/nodes/held/status", {"status": "maintenance"})
    assert (status, body["new_status"]) == (200, "maintenance")
    # the seed's own heartbeat example carries "status": "active"
    status, _ = await http.post(
        "/nodes/held/heartbeat", {"status": "active", "cpu_usage": 25.5, "memory_usage": 45.2}
    )
    assert status == 200
    _, body = await http.get("/nodes/held")
    node = body["node"]
    assert (node["status"], node["admin_status"], node["reported_status"]) == (
        "maintenance",
        "maintenance",
        "active",
    )
    await http.put("/nodes/held/status", {"status": "offline"})
    await http.post("/nodes/held/heartbeat", {"cpu_usage": 20.0})
    await http.post("/nodes/held/heartbeat", {"status": "active", "cpu_usage": 21.0})
    _, body = await http.get("/nodes/held")
    assert body["node"]["status"] == "offline"
    # the node's own report applies underneath: degraded once the admin lets go
    await http.post("/nodes/held/heartbeat", {"status": "degraded", "cpu_usage": 30.0})
    _, body = await http.get("/nodes/held")
    assert body["node"]["status"] == "offline"
    status, body = await http.put("/nodes/held/status", {"status": "active"})
    assert body["new_status"] == "degraded"
    _, body = await http.get("/nodes/held")
    assert (body["node"]["status"], body["node"]["admin_status"]) == ("degraded", None)


async def test_cancel_then_retry(http: Http) -> None:
    await register(http, "cx-node", "cap-cx")
    await submit(http, "cx-task", "cap-cx")
    await wait_for(http, "cx-task", status="active")
    await http.post("/tasks/cx-task/start", {"node_id": "cx-node"})
    status, body = await http.post("/tasks/cx-task/cancel")
    assert status == 200
    task = body["task"]
    assert (task["status"], task["phase"]) == ("failed", "cancelled")
    assert "cancelled by admin" in task["error_message"]
    # the node learns of it on its next poll or heartbeat
    _, polled = await http.get("/nodes/cx-node/tasks")
    assert "cx-task" in polled["cancelled_tasks"]
    _, beat = await http.post("/nodes/cx-node/heartbeat", {"cpu_usage": 1.0})
    assert "cx-task" in beat["cancelled_tasks"]
    status, body = await http.post(
        "/tasks/cx-task/result", {"node_id": "cx-node", "status": "completed"}
    )
    assert_error(status, body, 409, "TASK_FINISHED")
    status, body = await http.post("/tasks/cx-task/cancel")
    assert_error(status, body, 409, "TASK_FINISHED")
    # retry: queued again from scratch, and bound again
    status, body = await http.post("/tasks/cx-task/retry")
    assert status == 200
    assert (body["task"]["status"], body["task"]["phase"], body["task"]["retry_count"]) == (
        "pending",
        "queued",
        0,
    )
    task = await wait_for(http, "cx-task", status="active")
    assert task["assigned_nodes"] == ["cx-node"] and "error_message" not in task
    assert [a["outcome"] for a in task["attempts"]] == ["cancelled", None]
    status, body = await http.post("/tasks/cx-task/retry")
    assert_error(status, body, 409, "TASK_NOT_FAILED")
    status, body = await http.post("/tasks/nope-nope/cancel")
    assert_error(status, body, 404, "TASK_NOT_FOUND")


async def test_drain_waits_for_the_running_task_then_parks_the_node(http: Http) -> None:
    await register(http, "dr-node", "cap-dr")
    await submit(http, "dr-running", "cap-dr")
    await wait_for(http, "dr-running", status="active")
    await http.post("/tasks/dr-running/start", {"node_id": "dr-node"})
    status, body = await http.post("/nodes/dr-node/drain", {})
    assert status == 200 and body["tasks_running"] == 1
    await submit(http, "dr-new", "cap-dr")
    _, node = await http.get("/nodes/dr-node")
    assert node["node"]["draining"] and node["node"]["status"] == "active"
    await asyncio.sleep(2)  # time for the scheduler to (not) bind the new task
    _, task = await http.get("/tasks/dr-new")
    assert task["task"]["status"] == "pending"
    await http.post("/tasks/dr-running/result", {"node_id": "dr-node", "status": "completed"})

    async def parked() -> dict[str, Any] | None:
        _, b = await http.get("/nodes/dr-node")
        return b["node"] if b["node"]["status"] == "maintenance" else None

    node = await eventually(parked, within=20)
    assert node["admin_status"] == "maintenance" and not node["draining"]
    _, task = await http.get("/tasks/dr-running")
    assert task["task"]["status"] == "completed"  # the running task finished


@pytest.mark.parametrize(
    ("how", "request_", "reason"),
    [
        ("drain", ("POST", "drain", {}), "draining"),
        ("maint", ("PUT", "status", {"status": "maintenance"}), "maintenance"),
    ],
)
async def test_a_task_bound_but_not_started_goes_back_when_its_node_takes_nothing_new(
    http: Http, how: str, request_: tuple[str, str, dict[str, Any]], reason: str
) -> None:
    # what the scheduler binds in the moment before it sees a drain (or the node parked)
    # looks like this: an assigned task the node has not started
    node, task_id = f"{how}-u-node", f"{how}-u-task"
    await register(http, node, f"cap-{how}-u")
    await submit(http, task_id, f"cap-{how}-u")
    await wait_for(http, task_id, status="active")  # assigned, not started
    method, action, body = request_
    call = http.post if method == "POST" else http.put
    status, _ = await call(f"/nodes/{node}/{action}", body)
    assert status == 200
    _, polled = await http.get(f"/nodes/{node}/tasks")
    assert polled["tasks"] == []  # never handed to that node
    task = await wait_for(http, task_id, status="pending")
    assert (task["phase"], task["retry_count"], task["node_id"]) == ("retrying", 0, None)
    assert reason in task["error_message"]
    await eventually(lambda: _node_status(http, node, "maintenance"), within=20)
    status, _ = await http.post(f"/tasks/{task_id}/start", {"node_id": node})
    assert status == 409  # no longer its task


async def test_drain_deadline_requeues_without_charging_a_retry(http: Http) -> None:
    await register(http, "dl-node", "cap-dl")
    await submit(http, "dl-task", "cap-dl")
    await wait_for(http, "dl-task", status="active")
    await http.post("/tasks/dl-task/start", {"node_id": "dl-node"})
    status, body = await http.post("/nodes/dl-node/drain", {"deadline": 1})
    assert status == 200 and body["deadline"] is not None
    task = await wait_for(http, "dl-task", status="pending")
    assert (task["phase"], task["retry_count"]) == ("retrying", 0)
    assert task["attempts"][-1]["outcome"] == "requeued"
    await eventually(
        lambda: _node_status(http, "dl-node", "maintenance"),
        within=20,
    )
    status, body = await http.post("/nodes/dl-node/drain", {"deadline": -1})
    assert_error(status, body, 400, "INVALID_REQUEST")


async def _node_status(http: Http, node_id: str, wanted: str) -> bool:
    _, body = await http.get(f"/nodes/{node_id}")
    return bool(body["node"]["status"] == wanted)


async def test_websocket_settings_do_what_they_say(stack: Stack, http: Http) -> None:
    ws_url = stack.api.base.replace("http", "ws") + "/ws"
    try:
        status, _ = await http.put("/config", {"websocket": {"enabled": False}})
        assert status == 200
        _, info = await http.get("/websocket/info")
        assert info["websocket"]["enabled"] is False
        with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
            await websockets.connect(stack.api.ws)
        assert refused.value.response.status_code == 503
        async with aiohttp.ClientSession(headers=stack.headers) as session:
            with pytest.raises(aiohttp.WSServerHandshakeError) as same_origin:
                await session.ws_connect(ws_url)
            assert same_origin.value.status == 503
        status, body = await http.put("/config", {"websocket": {"port": 9555}})
        assert status == 200 and body["restart_required"] == ["websocket.port"]
        assert "next start" in body["message"]
        _, info = await http.get("/websocket/info")
        ws = info["websocket"]
        assert ws["configured_port"] == 9555 and ws["restart_required"] is True
        assert ws["port"] == stack.api.ws_port and ws["url"].endswith(f":{stack.api.ws_port}")
    finally:
        await http.put("/config", {"websocket": {"enabled": True, "port": stack.api.ws_port}})
    conn = await websockets.connect(stack.api.ws, additional_headers=stack.headers)
    first = json.loads(await asyncio.wait_for(conn.recv(), 10))
    assert first["type"] == "initial_status"
    _, info = await http.get("/websocket/info")
    assert info["websocket"]["enabled"] is True and info["websocket"]["connected_clients"] >= 1
    assert info["websocket"]["restart_required"] is False
    await conn.close()


async def test_recommendations_use_the_configured_targets(http: Http) -> None:
    await http.put(
        "/config",
        {"performance": {"target_response_time_ms": 1234.5, "target_utilization": 0.55}},
    )
    _, body = await http.get("/metrics/performance")
    recs = {r["type"]: r for r in body["performance_analysis"]["recommendations"]}
    details = recs["auto_scaling"]["details"]
    assert details["target_utilization"] == 0.55
    assert details["action"] in ("scale_up", "scale_down", "maintain")
    assert {"desired_nodes", "min_nodes", "max_nodes"} <= set(details)
    if "load_rebalancing" in recs:
        assert recs["load_rebalancing"]["details"]["target_response_time"] == 1234.5
    await http.put("/config", {"performance": {"monitoring_enabled": False}})
    _, body = await http.get("/metrics/performance")
    assert body["performance_analysis"]["recommendations"] == []
    assert body["performance_analysis"]["monitoring_enabled"] is False
    await http.put("/config", {"performance": {"monitoring_enabled": True}})
    status, body = await http.put("/config", {"performance": {"target_utilization": 0}})
    assert_error(status, body, 400, "INVALID_CONFIG")


async def test_tasks_written_by_an_earlier_version_upgrade_in_place(
    stack: Stack, api: client.ApiClient, http: Http
) -> None:
    await register(http, "old-node", "cap-old")
    ns = stack.namespace
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Web4AITask",
        "metadata": {"name": "legacy-task", "labels": {"web4ai.io/task-id": "legacy-task"}},
        # fits no node: nothing binds it before the legacy status is written
        "spec": {
            "taskId": "legacy-task",
            "taskType": "test_task",
            "requirements": {"capabilities": ["cap-nobody-has"]},
        },
    }
    await co(api).create_namespaced_custom_object(GROUP, VERSION, ns, TASKS.plural, body)
    await co(api).patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        ns,
        TASKS.plural,
        "legacy-task",
        {
            "status": {
                "status": "running",
                "nodeId": "old-node",
                "assignedNodes": ["gone-node", "old-node"],
                "retryCount": 1,
            }
        },
        _content_type="application/merge-patch+json",
    )
    # read in place at once, and rewritten by the operator
    task = await wait_for(http, "legacy-task", status="active")
    assert task["phase"] == "running" and task["assigned_nodes"] == ["old-node"]

    async def rewritten() -> dict[str, Any] | None:
        obj = await co(api).get_namespaced_custom_object(
            GROUP, VERSION, ns, TASKS.plural, "legacy-task"
        )
        s: dict[str, Any] = obj["status"]
        return s if s.get("phase") == "running" else None

    stored = await eventually(rewritten, within=20)
    assert stored["status"] == "active" and stored["assignedNodes"] == ["old-node"]


async def test_optimization_sends_work_to_underloaded_nodes_while_one_is_hot(
    http: Http,
) -> None:
    for node_id, cpu in (("opt-hot", 95.0), ("opt-warm", 50.0), ("opt-cool", 5.0)):
        status, _ = await http.post(
            f"/nodes/{node_id}/register",
            {**REGISTRATION, "agents_count": 8, "capabilities": ["cap-opt"]},
        )
        assert status == 200
        await http.post(f"/nodes/{node_id}/heartbeat", {"cpu_usage": cpu, "memory_usage": 10.0})
    try:
        await http.put(
            "/config",
            {
                "network": {"load_balance_algorithm": "round_robin"},
                "performance": {"optimization_enabled": True, "cpu_threshold": 80},
            },
        )
        for i in range(4):
            await submit(http, f"opt-on-{i}", "cap-opt")
        on = [(await wait_for(http, f"opt-on-{i}", status="active"))["node_id"] for i in range(4)]
        assert set(on) == {"opt-cool"}  # the hot node's load_rebalancing advice, acted on
        await http.put("/config", {"performance": {"optimization_enabled": False}})
        for i in range(4):
            await submit(http, f"opt-off-{i}", "cap-opt")
        off = [(await wait_for(http, f"opt-off-{i}", status="active"))["node_id"] for i in range(4)]
        assert "opt-warm" in off  # round robin alone spreads over both fitting nodes
        assert "opt-hot" not in on + off  # over the threshold: never
    finally:
        await http.put(
            "/config",
            {
                "network": {"load_balance_algorithm": "weighted_round_robin"},
                "performance": {"optimization_enabled": True},
            },
        )
        for node_id in ("opt-hot", "opt-warm", "opt-cool"):
            await http.delete(f"/nodes/{node_id}")
