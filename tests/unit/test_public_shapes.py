"""A node and a task as the API shows them (GET /nodes, GET /nodes/{id}, GET
/tasks/{id}, callbacks and the WebSocket's messages), pinned as JSON text: the keys,
their order, the defaults for what is not stored, and numbers kept as the stored ones are
(an int stays an int where the API does not convert it)."""

from __future__ import annotations

import json
from typing import Any

from web4ai.api.presenting import node_models, node_public
from web4ai.core.crs import NodeBody
from web4ai.core.schemas.public import task_public
from web4ai.k8s.cache import ClusterState

FULL: Any = {
    "metadata": {"name": "node-n-a", "resourceVersion": "7"},
    "spec": {
        "nodeId": "n-a",
        "host": "10.0.0.1",
        "port": 8091,
        "nodeType": "gpu_node",
        "capabilities": ["llm", "vision"],
        "agentsCount": 2,
        "maxConcurrentTasks": 4,
        "version": "1.2.0",
        "location": "dc-1",
        "metadata": {"rack": 3},
        "agents": [
            {
                "agentId": "a1",
                "agentType": "llm",
                "capabilities": ["chat"],
                "specializedModels": ["m1"],
            },
            {"agentId": "a2"},
        ],
    },
    "status": {
        "status": "active",
        "reportedStatus": "active",
        "draining": {"requestedAt": "2026-01-01T00:00:00Z", "deadline": 1767225700},
        "cpuUsage": 25,
        "memoryUsage": 45.5,
        "loadScore": 0.35,
        "networkLatency": 12,
        "uptime": 100,
        "lastHeartbeat": "2026-01-01T00:00:10Z",
        "registeredAt": "2026-01-01T00:00:00Z",
        "reliabilityScore": 0.9,
        "tasksCompleted": 3,
        "tasksFailed": 1,
        "agents": [
            {"agentId": "a2", "loadedModels": ["m2"]},
            {"agentId": "a3", "specializedModels": ["m3"]},
        ],
    },
}
BARE: Any = {"metadata": {"name": "node-n-b"}, "spec": {"nodeId": "n-b", "host": "h"}}


def task(name: str, node: str, agent: str, status: str, phase: str) -> Any:
    return {
        "metadata": {"name": name, "resourceVersion": "1"},
        "spec": {"taskId": name, "taskType": "x", "submittedAt": "2026-01-01T00:00:00Z"},
        "status": {"status": status, "phase": phase, "nodeId": node, "agentId": agent},
    }


def state() -> ClusterState:
    out = ClusterState(None, "test")
    for body in (FULL, BARE):
        out.record_node(body)
    for body in (
        task("t1", "n-a", "a1", "active", "running"),
        task("t2", "n-a", "a1", "completed", "completed"),
        task("t3", "n-a", "a1", "failed", "failed"),
        task("t4", "n-a", "a2", "completed", "completed"),
        task("t5", "n-b", "a1", "completed", "completed"),
    ):
        out.record_task(body)
    return out


def text(doc: Any) -> str:
    return json.dumps(doc)


def node(body: NodeBody, **kw: Any) -> Any:
    return node_public(body, state(), **kw)


LISTED_FULL = (
    '{"node_id": "n-a", "host": "10.0.0.1", "port": 8091, "node_type": "gpu_node", '
    '"status": "active", "admin_status": null, "reported_status": "active", '
    '"draining": true, "capabilities": ["llm", "vision"], "agents_count": 2, '
    '"max_concurrent_tasks": 4, "cpu_usage": 25.0, "memory_usage": 45.5, '
    '"gpu_usage": 0.0, "load_score": 0.35, "network_latency": 12, '
    '"last_heartbeat": 1767225610.0, "version": "1.2.0", "location": "dc-1", '
    '"uptime": 100, "models": ["m1", "m3"], "loaded_models": ["m2"], '
    '"drain_deadline": 1767225700}'
)


def test_a_listed_node_keeps_its_shape() -> None:
    assert text(node(FULL)) == LISTED_FULL


def test_a_node_in_detail_keeps_its_shape() -> None:
    assert text(node(FULL, detailed=True)) == LISTED_FULL[:-1] + (
        ', "reliability_score": 0.9, "tasks_completed": 3, "tasks_failed": 1, '
        '"tasks_running": 1, "metadata": {"rack": 3}, "registered_at": 1767225600.0, '
        '"agents": [{"agent_id": "a1", "agent_type": "llm", "status": "active", '
        '"capabilities": ["chat"], "specialized_models": ["m1"], "loaded_models": [], '
        '"tasks_running": 1, "tasks_completed": 1, "efficiency_score": 0.5, '
        '"last_activity": 1767225610.0}, '
        '{"agent_id": "a2", "agent_type": null, "status": "active", "capabilities": [], '
        '"specialized_models": [], "loaded_models": ["m2"], "tasks_running": 0, '
        '"tasks_completed": 1, "efficiency_score": 1.0, "last_activity": 1767225610.0}, '
        '{"agent_id": "a3", "agent_type": null, "status": "active", "capabilities": [], '
        '"specialized_models": ["m3"], "loaded_models": [], "tasks_running": 0, '
        '"tasks_completed": 0, "efficiency_score": 1.0, "last_activity": 1767225610.0}]}'
    )


def test_what_is_not_stored_shows_its_default() -> None:
    assert text(node(BARE, detailed=True)) == (
        '{"node_id": "n-b", "host": "h", "port": 8090, "node_type": "generic", '
        '"status": "offline", "admin_status": null, "reported_status": null, '
        '"draining": false, "capabilities": [], "agents_count": 1, '
        '"max_concurrent_tasks": 1, "cpu_usage": 0.0, "memory_usage": 0.0, '
        '"gpu_usage": 0.0, "load_score": 0.0, "network_latency": null, '
        '"last_heartbeat": null, "version": "unknown", "location": null, "uptime": null, '
        '"reliability_score": 1.0, "tasks_completed": 0, "tasks_failed": 0, '
        '"tasks_running": 0, "metadata": {}, "registered_at": null, "agents": []}'
    )


def test_models_and_a_listed_node_with_its_counters_keep_their_shape() -> None:
    assert text(node_models(FULL)) == (
        '{"node_id": "n-a", "models": ["m1", "m3"], "loaded_models": ["m2"], "agents": ['
        '{"agent_id": "a1", "specialized_models": ["m1"], "loaded_models": []}, '
        '{"agent_id": "a2", "specialized_models": [], "loaded_models": ["m2"]}, '
        '{"agent_id": "a3", "specialized_models": ["m3"], "loaded_models": []}]}'
    )
    assert text(node(FULL, running=5)) == LISTED_FULL[:-1] + (
        ', "reliability_score": 0.9, "tasks_completed": 3, "tasks_failed": 1, "tasks_running": 5}'
    )


TASK: Any = {
    "metadata": {"name": "task-t1", "resourceVersion": "9"},
    "spec": {
        "taskId": "t1",
        "taskType": "echo",
        "priority": 2,
        "inputData": {"a": 1},
        "deadline": 1767225900,
        "callbackUrl": "https://h.example/cb",
        "submittedAt": "2026-01-01T00:00:00Z",
        "requirements": {"capabilities": ["llm"], "minCpu": 10},
    },
    "status": {
        "status": "completed",
        "phase": "completed",
        "nodeId": "n-a",
        "agentId": "a1",
        "retryCount": 1,
        "assignedAt": "2026-01-01T00:00:01Z",
        "startedAt": "2026-01-01T00:00:02Z",
        "completedAt": "2026-01-01T00:00:05Z",
        "executionTime": 3,
        "result": {"ok": True},
        "performanceMetrics": {"ms": 3000},
        "progress": {"percent": 100, "message": "done", "updatedAt": "2026-01-01T00:00:04Z"},
        "attempts": [
            {
                "nodeId": "n-b",
                "assignedAt": "2026-01-01T00:00:00Z",
                "finishedAt": "2026-01-01T00:00:01Z",
                "outcome": "failed",
                "error": "boom",
            },
            {
                "nodeId": "n-a",
                "agentId": "a1",
                "assignedAt": "2026-01-01T00:00:01Z",
                "startedAt": "2026-01-01T00:00:02Z",
            },
        ],
        "callbackDelivered": "yes",
    },
}
QUEUED: Any = {
    "metadata": {"name": "task-t2"},
    "spec": {"taskId": "t2", "taskType": "echo", "submittedAt": "2026-01-01T00:00:00Z"},
}


def test_a_task_keeps_its_shape() -> None:
    assert text(task_public(TASK)) == (
        '{"priority": 2, "timeout": 300, "max_retries": 3, "requirements": '
        '{"capabilities": ["llm"], "min_cpu": 10}, "input_data": {"a": 1}, "metadata": {}, '
        '"retry_count": 1, "node_id": "n-a", "agent_id": "a1", "task_id": "t1", '
        '"task_type": "echo", "deadline": 1767225900, "callback_url": "https://h.example/cb", '
        '"status": "completed", "phase": "completed", "assigned_nodes": ["n-a"], '
        '"created_at": 1767225600.0, "attempts": [{"node_id": "n-b", "agent_id": null, '
        '"outcome": "failed", "assigned_at": 1767225600.0, "finished_at": 1767225601.0, '
        '"error_message": "boom", "started_at": null}, {"node_id": "n-a", "agent_id": "a1", '
        '"outcome": null, "assigned_at": 1767225601.0, "started_at": 1767225602.0, '
        '"error_message": null, "finished_at": null}], "assigned_at": 1767225601.0, '
        '"started_at": 1767225602.0, "completed_at": 1767225605.0, "progress": '
        '{"percent": 100, "message": "done", "updated_at": 1767225604.0}, '
        '"execution_time": 3, "result": {"ok": true}, "performance_metrics": {"ms": 3000}}'
    )


def test_a_queued_task_shows_the_defaults() -> None:
    assert text(task_public(QUEUED)) == (
        '{"priority": 3, "timeout": 300, "max_retries": 3, "requirements": {}, '
        '"input_data": {}, "metadata": {}, "retry_count": 0, "node_id": null, '
        '"agent_id": null, "task_id": "t2", "task_type": "echo", "status": "pending", '
        '"phase": "queued", "assigned_nodes": [], "created_at": 1767225600.0, "attempts": []}'
    )
