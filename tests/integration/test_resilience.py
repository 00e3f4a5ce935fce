"""Issue 9: no single request, object or name can stop the network. Each test
reproduces a reported failure through the REST API on the real control plane."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from tests.conftest import Stack
from tests.integration.apiclient import Http, assert_error
from tests.integration.helpers import co, eventually
from web4ai.core.resources import GROUP, TASKS, VERSION
from web4ai.node.agent import NodeAgent
from web4ai.node.config import NodeConfig
from web4ai.node.executors import ExecutionContext


@pytest.fixture
def http(stack: Stack) -> Http:
    return Http(stack.api.base, stack.headers)


async def run_one(http: Http, node_id: str, task_id: str, **result: Any) -> dict[str, Any]:
    """Act as node ``node_id``: beat (on a busy machine a test can outlast the Lease of a
    node that never beats), wait for ``task_id`` to be offered, start it, report."""
    status, body = await http.post(f"/nodes/{node_id}/heartbeat", {"cpu_usage": 1.0})
    assert status in (200, 429), body  # 429: beaten within its interval already

    async def offered() -> bool:
        status, body = await http.get(f"/nodes/{node_id}/tasks?wait=1")
        assert status == 200, body
        return any(t["task_id"] == task_id for t in body["tasks"])

    await eventually(offered, within=60)
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
            GROUP, VERSION, stack.namespace, TASKS.plural, "jammer"
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
        {"host": "h", "agents": [{"agent_id": f"a{i}", "capabilities": caps} for i in range(16)]},
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


async def read_lease(api: client.ApiClient, ns: str, name: str) -> dict[str, Any] | None:
    try:
        lease = await client.CoordinationV1Api(api).read_namespaced_lease(name, ns)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return dict(api.sanitize_for_serialization(lease))


async def test_a_node_named_like_the_leader_lease_cannot_disturb_leadership(
    http: Http, stack: Stack, api: client.ApiClient
) -> None:
    # item 3: heartbeats of node "web4ai-operator" used to merge-patch the leader Lease
    ns = stack.namespace

    async def leader() -> str | None:
        lease = await read_lease(api, ns, "web4ai-operator")
        return None if lease is None else lease["spec"].get("holderIdentity")

    holder = await eventually(leader)
    before = await read_lease(api, ns, "web4ai-operator")
    assert before is not None
    for node in ("web4ai-operator", "kube-scheduler"):
        status, body = await http.post(f"/nodes/{node}/register", {"host": "127.0.0.1"})
        assert status == 200, body
        for _ in range(3):
            status, body = await http.post(f"/nodes/{node}/heartbeat", {"status": "active"})
            assert status == 200, body
    after = await read_lease(api, ns, "web4ai-operator")
    assert after is not None and after["spec"]["holderIdentity"] == holder
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    own = await read_lease(api, ns, "web4ai-node-web4ai-operator")
    assert own is not None
    # the node's own Lease: its id label, and the part-of label uninstall selects by
    assert own["metadata"]["labels"] == {
        "web4ai.io/node-id": "web4ai-operator",
        "app.kubernetes.io/part-of": "web4ai",
    }
    # the operator still leads: a task is assigned to the node
    status, body = await http.post(
        "/tasks",
        {
            "task_id": "leader-still-works",
            "task_type": "t",
            "requirements": {"preferred_nodes": ["web4ai-operator"]},
        },
    )
    assert status == 200, body
    done = await run_one(http, "web4ai-operator", "leader-still-works")
    assert done["status"] == "completed"
    # deleting the node deletes its own Lease, never the leader's
    status, body = await http.delete("/nodes/web4ai-operator")
    assert status == 200, body

    async def own_lease_gone() -> bool:
        return await read_lease(api, ns, "web4ai-node-web4ai-operator") is None

    await eventually(own_lease_gone)
    after = await read_lease(api, ns, "web4ai-operator")
    assert after is not None and after["metadata"]["uid"] == before["metadata"]["uid"]
    assert after["spec"]["holderIdentity"] == holder


async def test_a_lease_that_is_not_the_nodes_is_never_written(
    http: Http, stack: Stack, api: client.ApiClient
) -> None:
    ns = stack.namespace
    foreign = {"metadata": {"name": "web4ai-node-squatted"}, "spec": {"holderIdentity": "other"}}
    await client.CoordinationV1Api(api).create_namespaced_lease(ns, foreign)
    status, body = await http.post("/nodes/squatted/register", {"host": "127.0.0.1"})
    assert_error(status, body, 409, "CONFLICT")
    lease = await read_lease(api, ns, "web4ai-node-squatted")
    assert lease is not None and lease["spec"]["holderIdentity"] == "other"


async def test_old_node_leases_move_to_the_owned_names_on_upgrade(
    http: Http, stack: Stack, api: client.ApiClient
) -> None:
    ns = stack.namespace
    status, body = await http.post("/nodes/upgraded/register", {"host": "127.0.0.1"})
    assert status == 200, body
    old = {
        "metadata": {"name": "upgraded", "labels": {"web4ai.io/node-id": "upgraded"}},
        "spec": {"holderIdentity": "upgraded", "leaseDurationSeconds": 90},
    }
    await client.CoordinationV1Api(api).create_namespaced_lease(ns, old)

    async def moved() -> bool:
        return await read_lease(api, ns, "upgraded") is None

    await eventually(moved)
    assert await read_lease(api, ns, "web4ai-node-upgraded") is not None


async def test_retention_never_deletes_a_new_task_that_reuses_a_retired_id(
    http: Http, stack: Stack
) -> None:
    # item 3 of the issue: status.retiring held names, never cleared, deleted without UID
    node = "retention-node"
    status, body = await http.post(
        f"/nodes/{node}/register", {"host": "127.0.0.1", "max_concurrent_tasks": 4}
    )
    assert status == 200, body

    async def finished_and_retired(task_id: str) -> None:
        status, body = await http.post(
            "/tasks",
            {"task_id": task_id, "task_type": "t", "requirements": {"preferred_nodes": [node]}},
        )
        assert status == 200, body
        await run_one(http, node, task_id)

        async def gone() -> bool:
            status, _ = await http.get(f"/tasks/{task_id}")
            return status == 404

        await eventually(gone)

    status, body = await http.put("/config", {"orchestrator": {"task_retention": 0}})
    assert status == 200, body
    try:
        await finished_and_retired("reuse_x")
        status, body = await http.put("/config", {"orchestrator": {"task_retention": 3600}})
        assert status == 200, body
        # the id is submitted again; the node stays away so that it stays pending
        status, body = await http.put(f"/nodes/{node}/status", {"status": "maintenance"})
        assert status == 200, body
        status, body = await http.post("/tasks", {"task_id": "reuse_x", "task_type": "t"})
        assert status == 200, body
        # more rounds of retention run (a finished marker is retired) ...
        status, body = await http.put("/config", {"orchestrator": {"task_retention": 0}})
        assert status == 200, body
        status, body = await http.put(f"/nodes/{node}/status", {"status": "active"})
        assert status == 200, body
        status, body = await http.post(
            "/tasks",
            {
                "task_id": "reuse_marker",
                "task_type": "t",
                "requirements": {"preferred_nodes": [node]},
            },
        )
        assert status == 200, body
        await run_one(http, node, "reuse_marker")  # reuse_x is assigned too, never finished

        async def marker_gone() -> bool:
            status, _ = await http.get("/tasks/reuse_marker")
            return status == 404

        await eventually(marker_gone)
    finally:
        await http.put("/config", {"orchestrator": {"task_retention": 3600}})
    # ... and the new reuse_x is still there
    status, body = await http.get("/tasks/reuse_x")
    assert status == 200, body


async def test_multi_line_error_messages_are_kept_and_long_ones_cut(http: Http) -> None:
    # item 4: "must not contain control characters" made the node drop the result
    node = "trace-node"
    status, body = await http.post(
        f"/nodes/{node}/register", {"host": "127.0.0.1", "max_concurrent_tasks": 4}
    )
    assert status == 200, body
    trace = (
        "Traceback (most recent call last):\n"
        '  File "server.py", line 3, in <module>\n'
        "\traise InferenceError(body)\n"
        'InferenceError: {\n  "error": "模型过载 - überlastet"\n}\n'
    )
    for task_id, message in (("multi-line", trace), ("very-long", "x" * 100_000)):
        status, body = await http.post(
            "/tasks",
            {
                "task_id": task_id,
                "task_type": "t",
                "max_retries": 0,
                "requirements": {"preferred_nodes": [node]},
            },
        )
        assert status == 200, body
        done = await run_one(http, node, task_id, status="failed", error_message=message)
        assert done["status"] == "failed"
    _, body = await http.get("/tasks/multi-line")
    assert body["task"]["error_message"] == trace
    _, body = await http.get("/tasks/very-long")
    cut = body["task"]["error_message"]
    assert len(cut) == 32768 and cut.endswith("[truncated 67264 characters]")


async def test_the_reference_node_reports_why_when_its_result_is_refused(
    http: Http, stack: Stack
) -> None:
    # the node never drops a result: a refused one becomes a failed one that says why
    async def huge(data: dict[str, Any], ctx: ExecutionContext) -> Any:
        return {"blob": "b" * 8192}

    # a reference node reports the machine's cpu: a busy machine is no reason to wait
    idle = {"cpu_threshold": 100, "memory_threshold": 100}
    status, body = await http.put(
        "/config", {"security": {"max_body_bytes": 4096}, "performance": idle}
    )
    assert status == 200, body
    config = NodeConfig(
        orchestrator_url=stack.api.base,
        api_key=stack.headers["Authorization"].removeprefix("Bearer "),
        node_id="refused-node",
        agents=1,
        poll_wait=1,
    )
    agent = NodeAgent(config, executors={"huge": huge})
    stop = asyncio.Event()
    serving = asyncio.create_task(agent.serve(stop))
    try:
        status, body = await http.post(
            "/tasks",
            {
                "task_id": "refused-result",
                "task_type": "huge",
                "max_retries": 0,
                "requirements": {"capabilities": ["huge"]},
            },
        )
        assert status == 200, body

        async def settled() -> dict[str, Any] | None:
            _, b = await http.get("/tasks/refused-result")
            return b["task"] if b["task"]["status"] in ("completed", "failed") else None

        task = await eventually(settled)
    finally:
        await http.put("/config", {"security": {"max_body_bytes": 1048576}})
        stop.set()
        await serving
    assert task["status"] == "failed"
    assert "refused the node's completed result: 413" in task["error_message"]
