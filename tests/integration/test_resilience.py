"""Issue 9: no single request, object or name can stop the network. Each test
reproduces a reported failure through the REST API on the real control plane."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes_asyncio import client

from tests.conftest import Stack
from tests.integration.apiclient import Http, assert_error
from tests.integration.helpers import co, eventually
from web4ai.k8s.resources import GROUP, TASKS, VERSION


@pytest.fixture
def http(stack: Stack) -> Http:
    return Http(stack.api.base, stack.headers)


async def run_one(http: Http, node_id: str, task_id: str, **result: Any) -> dict[str, Any]:
    """Act as node ``node_id``: wait for ``task_id`` to be offered, start it, report."""

    async def offered() -> bool:
        status, body = await http.get(f"/nodes/{node_id}/tasks?wait=1")
        assert status == 200, body
        return any(t["task_id"] == task_id for t in body["tasks"])

    await eventually(offered)
    status, body = await http.post(f"/tasks/{task_id}/start", {"node_id": node_id})
    assert status == 200, body
    status, body = await http.post(
        f"/tasks/{task_id}/result", {"node_id": node_id, "status": "completed", **result}
    )
    assert status == 200, body
    return dict(body["task"])


async def test_a_task_with_256_long_capabilities_does_not_jam_the_operator(
    http: Http, stack: Stack, api: client.ApiClient
) -> None:
    # item 1: its Unschedulable explanation used to exceed the condition's 32 KiB limit,
    # the status write got 422 and every reconcile pass aborted.
    node = "jam-node"
    status, body = await http.post(
        f"/nodes/{node}/register", {"host": "127.0.0.1", "capabilities": ["gpu"]}
    )
    assert status == 200, body
    caps = [f"{i:03d}" + "c" * 125 for i in range(256)]
    status, body = await http.post(
        "/tasks",
        {"task_id": "jammer", "task_type": "test_task", "requirements": {"capabilities": caps}},
    )
    assert status == 200, body

    # the explanation is written, summarised within the CRD's limit
    async def explained() -> str | None:
        obj = await co(api).get_namespaced_custom_object(
            GROUP, VERSION, stack.namespace, TASKS, "jammer"
        )
        for c in (obj.get("status") or {}).get("conditions") or []:
            if c["type"] == "Scheduled" and c["status"] == "False":
                return str(c["message"])
        return None

    message = await eventually(explained)
    assert message.startswith("0/1 nodes fit: 1 missing 256 capabilities: 000ccc")
    assert len(message) < 32768
    # other tasks still schedule and complete, and accounting still runs
    for i in range(2):
        status, body = await http.post("/tasks", {"task_id": f"after-jam-{i}", "task_type": "t"})
        assert status == 200, body
        done = await run_one(http, node, f"after-jam-{i}")
        assert done["status"] == "completed"

    async def counted() -> bool:
        _, b = await http.get(f"/nodes/{node}")
        return bool(b["node"]["tasks_completed"] == 2)

    await eventually(counted)
    _, b = await http.get("/tasks/jammer")
    assert b["task"]["status"] == "pending"


async def test_inputs_that_would_not_fit_an_object_are_refused_up_front(http: Http) -> None:
    # item 2: every list, string and size the API accepts makes an object etcd stores
    big = {"blob": "x" * (600 * 1024)}
    status, body = await http.post("/tasks", {"task_type": "t", "input_data": big})
    assert_error(status, body, 400, "INVALID_REQUEST")
    assert body["details"]["errors"][0]["field"] == "input_data"
    caps = ["c" * 128] * 256
    status, body = await http.post(
        "/nodes/fat-node/register",
        {"host": "h", "agents": [{"agent_id": f"a{i}", "capabilities": caps} for i in range(64)]},
    )
    assert_error(status, body, 400, "INVALID_REQUEST")
    # the largest accepted submission is stored and schedulable
    near = {"blob": "y" * (500 * 1024)}
    status, body = await http.post(
        "/tasks",
        {
            "task_id": "largest",
            "task_type": "t",
            "input_data": near,
            "requirements": {"capabilities": caps[:1], "exclude_nodes": ["n" * 63] * 1024},
        },
    )
    assert status == 200, body
