"""The documented REST API through a real HTTP client, against the real control
plane with the operator and the API running."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.conftest import Stack
from tests.integration.apiclient import REGISTRATION, Http, assert_error
from tests.integration.helpers import eventually


async def test_health_is_open_and_real(stack: Stack) -> None:
    status, body = await Http(stack.api.base).get("/health")
    assert status == 200
    assert body["status"] == "healthy"
    assert body["version"] == "0.1.0"
    assert set(body["system"]) == {"cpu_usage", "memory_usage", "disk_usage", "uptime"}
    assert 0 <= body["system"]["memory_usage"] <= 100
    assert ":" in body["system"]["uptime"]  # "2 days, 3:45:23" style


async def test_the_complete_node_lifecycle_example(http: Http) -> None:
    # 1. Register a node
    status, body = await http.post("/nodes/my-node-001/register", REGISTRATION)
    assert status == 200 and body == {
        "success": True,
        "node_id": "my-node-001",
        "message": "Node my-node-001 registered successfully",
        "heartbeat_interval": 30.0,  # an addition: the interval the node should use
        "min_heartbeat_interval": 1.0,  # and never faster than (1 node / 100 per second)
    }
    # 2. Send heartbeat
    status, body = await http.post(
        "/nodes/my-node-001/heartbeat",
        {"status": "active", "cpu_usage": 25.5, "memory_usage": 45.2, "load_score": 0.35},
    )
    assert status == 200 and body == {
        "success": True,
        "message": "Heartbeat updated",
        "heartbeat_interval": 30.0,
        "min_heartbeat_interval": 1.0,
        "cancelled_tasks": [],  # additions: tasks whose executors the node should stop
    }
    # 3. Check node status
    status, body = await http.get("/nodes/my-node-001")
    assert status == 200
    node = body["node"]
    assert (node["status"], node["cpu_usage"], node["memory_usage"], node["load_score"]) == (
        "active",
        25.5,
        45.2,
        0.35,
    )
    assert node["capabilities"] == ["ai_inference", "data_processing"]
    assert node["reliability_score"] == 1.0 and node["tasks_completed"] == 0
    # 4. Submit task to be routed to optimal node
    status, body = await http.post(
        "/tasks",
        {
            "task_type": "ai_inference",
            "input_data": {"prompt": "Hello world"},
            "requirements": {"capabilities": ["ai_inference"]},
        },
    )
    assert status == 200 and body["success"] and body["message"] == "Task submitted successfully"
    task_id = body["task_id"]

    # 5. Monitor task progress
    async def assigned() -> dict[str, Any] | None:
        _, b = await http.get(f"/tasks/{task_id}")
        return b["task"] if b["task"]["status"] == "active" else None

    task = await eventually(assigned)
    assert task["node_id"] == "my-node-001" and task["phase"] == "assigned"
    assert task["assigned_nodes"] == ["my-node-001"]
    assert task["input_data"] == {"prompt": "Hello world"}
    # 6. Put node in maintenance
    status, body = await http.put("/nodes/my-node-001/status", {"status": "maintenance"})
    assert status == 200 and body == {
        "success": True,
        "message": "Node status updated to maintenance",
        "old_status": "active",
        "new_status": "maintenance",
    }
    # 7. Unregister node
    status, body = await http.delete("/nodes/my-node-001")
    assert status == 200 and body == {
        "success": True,
        "message": "Node my-node-001 unregistered successfully",
    }
    status, body = await http.get("/nodes/my-node-001")
    assert_error(status, body, 404, "NODE_NOT_FOUND")
    assert body["details"]["node_id"] == "my-node-001"

    async def requeued() -> bool:  # the operator's finalizer put the task back
        _, b = await http.get(f"/tasks/{task_id}")
        return bool(b["task"]["status"] == "pending")

    await eventually(requeued)


async def test_list_nodes_shape(http: Http) -> None:
    await http.post("/nodes/list-a/register", REGISTRATION)
    await http.post("/nodes/list-b/register", {**REGISTRATION, "agents_count": 3})
    await http.put("/nodes/list-b/status", {"status": "degraded"})
    status, body = await http.get("/nodes")
    assert status == 200 and body["success"]
    assert {"list-a", "list-b"} <= set(body["nodes"])
    assert body["nodes"]["list-b"]["agents_count"] == 3
    assert body["total_nodes"] == len(body["nodes"])
    assert body["active_nodes"] == sum(n["status"] == "active" for n in body["nodes"].values())


async def test_task_submission_listing_and_errors(http: Http) -> None:
    await http.put("/config", {"network": {"max_nodes": 100}})
    status, body = await http.post(
        "/tasks",
        {
            "task_id": "task_abc123",
            "task_type": "test_task",
            "priority": 2,
            "timeout": 60,
            "max_retries": 1,
            "metadata": {"user_id": "user_123"},
        },
    )
    assert (status, body["task_id"]) == (200, "task_abc123")
    status, body = await http.post("/tasks", {"task_id": "task_abc123", "task_type": "x"})
    assert_error(status, body, 409, "TASK_EXISTS")
    status, body = await http.get("/tasks/task_abc123")
    task = body["task"]
    assert (task["priority"], task["timeout"], task["max_retries"], task["retry_count"]) == (
        2,
        60,
        1,
        0,
    )
    assert task["metadata"] == {"user_id": "user_123"}
    status, body = await http.get("/tasks/nope")
    assert_error(status, body, 404, "TASK_NOT_FOUND")
    for i in range(3):
        await http.post(
            "/tasks",
            {
                "task_id": f"page-{i}",
                "task_type": "test_task",
                "requirements": {"capabilities": ["nowhere"]},
            },
        )
    status, body = await http.get("/tasks?status=pending&limit=2&offset=1")
    assert status == 200
    assert set(body["tasks"]) == {"pending", "active", "completed", "failed"}
    assert body["tasks"]["active"] == body["tasks"]["completed"] == body["tasks"]["failed"] == []
    assert len(body["tasks"]["pending"]) == 2
    assert body["summary"]["pending_count"] >= 3
    status, body = await http.get("/tasks")
    assert set(body["tasks"]) == {"pending", "active", "completed", "failed"}
    for query in ("status=done", "limit=0", "limit=abc", "offset=-1"):
        status, body = await http.get(f"/tasks?{query}")
        assert_error(status, body, 400, "INVALID_REQUEST")


async def test_control_stop_and_start(http: Http) -> None:
    status, body = await http.post("/control/stop")
    assert status == 200 and body["message"] == "Orchestrator stopped successfully"
    try:
        status, body = await http.post("/tasks", {"task_type": "test_task"})
        assert_error(status, body, 503, "ORCHESTRATOR_NOT_STARTED")
        assert (await http.get("/status"))[0] == 200  # reads keep working
        _, body = await http.get("/status")
        assert body["data"]["paused"] is True
    finally:
        status, body = await http.post("/control/start")
    assert status == 200 and body["message"] == "Orchestrator started successfully"
    assert body["orchestrator_id"] == "web4ai_main_orchestrator"
    status, body = await http.post("/tasks", {"task_type": "test_task"})
    assert status == 200


async def test_config_deep_merge_validation_and_live_algorithm(http: Http) -> None:
    status, body = await http.get("/config")
    assert status == 200
    cfg = body["config"]
    assert cfg["network"]["load_balance_algorithm"] == "weighted_round_robin"
    assert cfg["orchestrator"]["heartbeat_interval"] == 30
    assert "paused" not in cfg and "secret" not in str(cfg).lower()
    status, body = await http.put(
        "/config",
        {
            "network": {"load_balance_algorithm": "least_connections", "max_nodes": 150},
            "performance": {"cpu_threshold": 85},
        },
    )
    assert status == 200 and body["message"] == "Configuration updated"
    new = body["config"]
    assert new["network"]["load_balance_algorithm"] == "least_connections"
    assert new["network"]["max_nodes"] == 150
    assert new["network"]["min_nodes"] == cfg["network"]["min_nodes"]  # merged, not replaced
    assert new["performance"]["memory_threshold"] == cfg["performance"]["memory_threshold"]
    _, body = await http.get("/metrics")
    assert body["metrics"]["load_balancer"]["algorithm"] == "least_connections"
    bad: Any
    for bad in (
        {"network": {"load_balance_algorithm": "random"}},
        {"performance": {"cpu_threshold": 101}},
        {"network": {"min_nodes": 500}},
        {"nonsense": {}},
        {"network": {"typo_key": 1}},
        [1],
    ):
        status, body = await http.put("/config", bad)
        assert_error(status, body, 400, "INVALID_CONFIG")
    _, body = await http.get("/config")
    assert body["config"]["network"]["load_balance_algorithm"] == "least_connections"
    await http.put(
        "/config",
        {
            "network": {"load_balance_algorithm": "weighted_round_robin"},
            "performance": {"cpu_threshold": 80},
        },
    )


async def test_status_metrics_and_performance_shapes(http: Http) -> None:
    await http.post("/nodes/shape-1/register", {**REGISTRATION, "agents_count": 2})
    await http.post("/nodes/shape-1/heartbeat", {"cpu_usage": 95.0, "memory_usage": 40.0})
    status, body = await http.get("/status")
    assert status == 200 and body["success"]
    data = body["data"]
    for key in (
        "orchestrator_id",
        "timestamp",
        "uptime",
        "network_metrics",
        "nodes",
        "agents",
        "tasks",
        "performance",
    ):
        assert key in data
    assert data["agents"]["by_node"]["shape-1"] == 2
    assert set(body["api_stats"]) == {
        "requests_total",
        "requests_success",
        "requests_error",
        "start_time",
    }
    assert body["api_stats"]["requests_total"] > 0
    status, body = await http.get("/metrics")
    m = body["metrics"]
    assert set(m) >= {"timestamp", "network", "nodes", "tasks", "api", "load_balancer"}
    status, body = await http.get("/metrics/performance")
    recs = body["performance_analysis"]["recommendations"]
    rebalance = [r for r in recs if r["type"] == "load_rebalancing"]
    assert rebalance and "shape-1" in rebalance[0]["details"]["overloaded_nodes"]
    assert any(r["type"] == "auto_scaling" for r in recs)
    status, body = await http.get("/websocket/info")
    assert status == 200 and body["websocket"]["max_connections"] == 100
    assert body["websocket"]["url"].startswith("ws://127.0.0.1:")


async def test_node_protocol_long_poll_start_result(http: Http, stack: Stack) -> None:
    # room for tasks other tests left pending, which any node may be given
    await http.post(
        "/nodes/proto-1/register",
        {**REGISTRATION, "capabilities": ["proto"], "max_concurrent_tasks": 50},
    )
    await http.post("/nodes/proto-2/register", {**REGISTRATION, "capabilities": ["other"]})
    # a node with nothing for it waits the whole long-poll, then gets an empty list
    # (paused, so that tasks other tests left pending cannot land on it)
    await http.post("/control/stop")
    try:
        await http.post("/nodes/proto-idle/register", REGISTRATION)
        await http.put("/nodes/proto-idle/status", {"status": "maintenance"})
        t0 = time.monotonic()
        status, body = await http.get("/nodes/proto-idle/tasks?wait=1")
        assert status == 200 and body["tasks"] == [] and time.monotonic() - t0 >= 0.9
    finally:
        await http.post("/control/start")
    # a waiting poll answers as soon as a task is assigned to its node
    poll = asyncio.create_task(http.get("/nodes/proto-1/tasks?wait=30"))
    await asyncio.sleep(0.5)
    t0 = time.monotonic()
    await http.post(
        "/tasks",
        {
            "task_id": "proto-task",
            "task_type": "test_task",
            "requirements": {"capabilities": ["proto"]},
        },
    )
    status, body = await poll
    assert status == 200 and body["tasks"] and time.monotonic() - t0 < 20
    offered = [t["task_id"] for t in body["tasks"]]
    for _ in range(50):  # earlier tests may have left tasks for any node
        if "proto-task" in offered:
            break
        await asyncio.sleep(0.2)
        status, body = await http.get("/nodes/proto-1/tasks?wait=5")
        offered = [t["task_id"] for t in body["tasks"]]
    assert "proto-task" in offered
    status, body = await http.post("/tasks/proto-task/start", {"node_id": "proto-2"})
    assert_error(status, body, 409, "TASK_NOT_ASSIGNED")
    status, body = await http.post(
        "/tasks/proto-task/start", {"node_id": "proto-1", "agent_id": "agent_001"}
    )
    assert status == 200 and (body["task"]["status"], body["task"]["phase"]) == (
        "active",
        "running",
    )
    status, body = await http.get("/nodes/proto-1/tasks")
    assert "proto-task" not in [t["task_id"] for t in body["tasks"]]  # started: not offered
    status, body = await http.post(
        "/tasks/proto-task/result",
        {
            "node_id": "proto-1",
            "status": "completed",
            "result": {"answer": 42},
            "execution_time": 1.5,
            "performance_metrics": {"cpu_usage": 67.2},
        },
    )
    assert status == 200
    task = body["task"]
    assert (task["status"], task["result"], task["execution_time"], task["agent_id"]) == (
        "completed",
        {"answer": 42},
        1.5,
        "agent_001",
    )
    status, body = await http.post(
        "/tasks/proto-task/result", {"node_id": "proto-1", "status": "failed"}
    )
    assert_error(status, body, 409, "TASK_FINISHED")
    status, body = await http.get("/nodes/proto-1/tasks?wait=61")
    assert_error(status, body, 400, "INVALID_REQUEST")

    async def counted() -> bool:
        _, b = await http.get("/nodes/proto-1")
        return bool(b["node"]["tasks_completed"] == 1)

    await eventually(counted)


async def test_a_failed_result_is_retried_then_fails_with_the_last_error(http: Http) -> None:
    # room for tasks other tests left pending, which any node may be given
    await http.post(
        "/nodes/flaky/register",
        {**REGISTRATION, "capabilities": ["flaky"], "max_concurrent_tasks": 50},
    )
    await http.post(
        "/tasks",
        {
            "task_id": "flaky-task",
            "task_type": "t",
            "max_retries": 1,
            "requirements": {"capabilities": ["flaky"]},
        },
    )
    for attempt in range(2):

        async def offered() -> bool:
            _, b = await http.get("/nodes/flaky/tasks")
            return any(t["task_id"] == "flaky-task" for t in b["tasks"])

        await eventually(offered)
        status, body = await http.post(
            "/tasks/flaky-task/result",
            {"node_id": "flaky", "status": "failed", "error_message": f"boom {attempt}"},
        )
        assert status == 200
    _, body = await http.get("/tasks/flaky-task")
    assert body["task"]["status"] == "failed"
    assert body["task"]["retry_count"] == 1
    assert body["task"]["error_message"] == "boom 1 (after 1 retries)"
