"""The middle tier: the real aiohttp application (routes, middlewares, handlers) through
aiohttp's test client, with an in-memory fake at the Kubernetes boundary (the Writer and
the key Secret) instead of an API server. Checks the documented error envelope, the
authorization of each role, and that request models become the custom resources' specs.
The REST contract against a real API server stays in tests/integration."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp.test_utils import make_mocked_request

from tests.unit.apiapp import (
    NODE_KEY,
    READER,
    REGISTRATION,
    FakeWriter,
    assert_error,
    call,
)
from web4ai.api.context import ApiContext
from web4ai.api.routing import spec_of
from web4ai.core import bodies
from web4ai.core.resources import NODES, ORCHESTRATORS, TASKS
from web4ai.k8s.errors import Conflict


async def test_public_routes_answer_without_a_key_and_the_rest_need_one(http: Any) -> None:
    for path in ("/health", "/openapi.json", "/whoami"):
        status, _ = await call(http, "GET", path, key=None)
        assert status == 200, path
    for method, path in (("GET", "/tasks"), ("POST", "/tasks"), ("GET", "/nodes/x")):
        status, body = await call(http, method, path, key=None)
        assert_error(status, body, 401, "AUTHENTICATION_FAILED")
    status, body = await call(http, "GET", "/tasks", key="w4a_wrong")
    assert_error(status, body, 401, "AUTHENTICATION_FAILED")


async def test_a_read_only_key_reads_and_never_writes(http: Any) -> None:
    status, body = await call(http, "GET", "/tasks", key=READER)
    assert status == 200 and body["success"] is True
    for method, path, payload in (
        ("POST", "/tasks", {"task_type": "x"}),
        ("POST", "/nodes/n1/register", REGISTRATION),
        ("DELETE", "/nodes/n1", None),
        ("PUT", "/config", {}),
    ):
        status, body = await call(http, method, path, key=READER, json=payload)
        assert_error(status, body, 403, "FORBIDDEN")


async def test_a_node_key_acts_only_on_its_own_node(http: Any, ctx: ApiContext) -> None:
    status, body = await call(http, "POST", "/nodes/node-a/register", NODE_KEY, json=REGISTRATION)
    assert status == 200 and body["node_id"] == "node-a", body
    status, body = await call(http, "POST", "/nodes/node-a/heartbeat", NODE_KEY, json={})
    assert status == 200 and body["cancelled_tasks"] == []
    for method, path in (
        ("POST", "/nodes/node-b/register"),
        ("POST", "/nodes/node-b/heartbeat"),
        ("GET", "/nodes/node-b"),
        ("GET", "/tasks"),
        ("POST", "/tasks"),
        ("GET", "/config"),
    ):
        status, body = await call(http, method, path, NODE_KEY, json=REGISTRATION)
        assert_error(status, body, 403, "FORBIDDEN")
    # the node protocol: only tasks assigned to the key's node
    await call(http, "POST", "/tasks", json={"task_id": "t1", "task_type": "x"})
    status, body = await call(http, "GET", "/tasks/t1", NODE_KEY)
    assert_error(status, body, 403, "FORBIDDEN")
    status, body = await call(http, "POST", "/tasks/t1/start", NODE_KEY, json={"node_id": "node-b"})
    assert_error(status, body, 403, "FORBIDDEN")
    status, body = await call(http, "POST", "/tasks/t1/start", NODE_KEY, json={"node_id": "node-a"})
    assert_error(status, body, 409, "TASK_NOT_ASSIGNED")


async def test_wrong_fields_are_a_400_naming_every_field(http: Any) -> None:
    status, body = await call(
        http,
        "POST",
        "/tasks",
        json={
            "task_type": 7,
            "priority": True,
            "timeout": 2.5,
            "requirements": {"min_cpu": 150, "capabilities": ["ok", ""]},
            "input_data": [1],
            "task_id": "has space",
            "callback_url": "ftp://x",
            "deadline": "tomorrow",
            "metadata": None,  # null: absent
        },
    )
    assert_error(status, body, 400, "INVALID_REQUEST")
    errors = {e["field"]: e["message"] for e in body["details"]["errors"]}
    assert errors == {
        "task_type": "must be a string",
        "priority": "must be an integer from 1 to 5",
        "timeout": "must be an integer from 1 to 604800",
        "requirements.min_cpu": "must be a number from 0 to 100",
        "requirements.capabilities": "every item must be 1 to 128 characters",
        "input_data": "must be an object",
        "task_id": errors["task_id"],
        "callback_url": "must be an http or https URL",
        "deadline": "must be a number from 0 to inf",
    }
    assert body["error"].startswith("Invalid request: task_id: ")  # in the fields' order
    assert "; task_type: must be a string; " in body["error"]
    status, body = await call(http, "POST", "/nodes/x/register", json={"port": 70000})
    assert_error(status, body, 400, "INVALID_REQUEST")
    assert {e["field"] for e in body["details"]["errors"]} == {"host", "port"}
    status, body = await call(
        http, "POST", "/nodes/x/register", json={"host": "h", "agents": [{"agent_id": "a"}, {}]}
    )
    assert [e["field"] for e in body["details"]["errors"]] == ["agents[1].agent_id"]
    status, body = await call(http, "PUT", "/nodes/x/status", json={"status": "sleeping"})
    assert_error(status, body, 400, "INVALID_REQUEST")


async def test_malformed_bodies_routes_and_ids(http: Any) -> None:
    for data in (b"{not json", b"\xff\xfe", b'{"task_type": "x",}'):
        status, body = await call(
            http, "POST", "/tasks", data=data, headers={"Content-Type": "application/json"}
        )
        assert_error(status, body, 400, "INVALID_JSON")
    status, body = await call(http, "POST", "/tasks", json=[1, 2])
    assert_error(status, body, 400, "INVALID_REQUEST")
    assert body["details"]["errors"] == [{"field": "body", "message": "must be an object"}]
    status, body = await call(http, "POST", "/tasks", data=b"")
    assert_error(status, body, 400, "INVALID_REQUEST")  # {}: task_type is required
    status, body = await call(http, "GET", "/does/not/exist")
    assert_error(status, body, 404, "NOT_FOUND")
    status, body = await call(http, "DELETE", "/tasks")
    assert_error(status, body, 405, "METHOD_NOT_ALLOWED")
    status, body = await call(http, "GET", "/tasks/bad%20id")
    assert_error(status, body, 400, "INVALID_TASK_ID")
    status, body = await call(http, "GET", "/tasks/ghost")
    assert_error(status, body, 404, "TASK_NOT_FOUND")
    status, body = await call(http, "POST", "/nodes/ghost/heartbeat", json={"cpu_usage": 1})
    assert_error(status, body, 404, "NODE_NOT_FOUND")
    status, body = await call(http, "POST", "/tasks", data=b"x" * (1024 * 1024 + 1))
    assert_error(status, body, 413, "PAYLOAD_TOO_LARGE")


async def test_a_submission_becomes_the_task_spec_and_reads_back(
    http: Any, ctx: ApiContext
) -> None:
    request = {
        "task_id": "t-1",
        "task_type": "ai_inference",
        "priority": 2.0,  # an integral float is an integer
        "input_data": {"prompt": "hi"},
        "requirements": {"capabilities": ["gpu"], "min_cpu": 20, "exclude_nodes": ["n9"]},
        "max_retries": 1,
        "callback_url": None,
        "metadata": {"user_id": "u"},
    }
    status, body = await call(http, "POST", "/tasks", json=request)
    assert status == 200 and body == {
        "success": True,
        "task_id": "t-1",
        "message": "Task submitted successfully",
    }
    writer = ctx.writer
    assert isinstance(writer, FakeWriter)
    stored = writer.objects_by_name[TASKS, "t-1"]
    spec = dict(stored["spec"])
    assert isinstance(spec.pop("submittedAt"), str)
    assert spec == {
        "taskId": "t-1",
        "taskType": "ai_inference",
        "priority": 2,
        "inputData": {"prompt": "hi"},
        "requirements": {"capabilities": ["gpu"], "minCpu": 20.0, "excludeNodes": ["n9"]},
        "maxRetries": 1,
        "metadata": {"user_id": "u"},
        "timeout": 300,
    }
    status, body = await call(http, "GET", "/tasks/t-1", READER)
    task = body["task"]
    assert (task["task_type"], task["priority"], task["max_retries"]) == ("ai_inference", 2, 1)
    assert task["requirements"] == {
        "capabilities": ["gpu"],
        "min_cpu": 20.0,
        "exclude_nodes": ["n9"],
    }
    assert (task["status"], task["phase"]) == ("pending", "queued")
    status, body = await call(http, "POST", "/tasks", json={"task_id": "t-1", "task_type": "x"})
    assert_error(status, body, 409, "TASK_EXISTS")


async def test_registration_and_heartbeat_write_the_node_in_camel_case(
    http: Any, ctx: ApiContext
) -> None:
    registration = {
        "host": "h",
        "node_type": "gpu",
        "max_concurrent_tasks": 4,
        "boot_id": "b1",
        "agents": [{"agent_id": "a1", "specialized_models": ["m"]}],
    }
    status, body = await call(http, "POST", "/nodes/n-1/register", json=registration)
    assert status == 200 and body["heartbeat_interval"] == 30
    writer = ctx.writer
    assert isinstance(writer, FakeWriter)
    assert writer.objects_by_name[NODES, "n-1"]["spec"] == {
        "nodeId": "n-1",
        "host": "h",
        "nodeType": "gpu",
        "maxConcurrentTasks": 4,
        "bootId": "b1",
        "agents": [{"agentId": "a1", "specializedModels": ["m"]}],
        "agentsCount": 1,
    }
    heartbeat = {"cpu_usage": 50, "memory_total_mb": 8.0, "status": "degraded", "tasks_running": 1}
    status, body = await call(http, "POST", "/nodes/n-1/heartbeat", json=heartbeat)
    assert status == 200 and body["message"] == "Heartbeat updated"
    node_status = writer.objects_by_name[NODES, "n-1"]["status"]
    assert node_status["cpuUsage"] == 50 and node_status["tasksRunning"] == 1
    assert node_status["agentsStatus"] == {"memory_total_mb": 8.0}
    assert node_status["reportedStatus"] == "degraded"
    status, body = await call(http, "GET", "/nodes/n-1", READER)
    assert body["node"]["node_type"] == "gpu" and body["node"]["cpu_usage"] == 50


async def test_the_openapi_document_has_every_schema_from_the_models(http: Any) -> None:
    status, doc = await call(http, "GET", "/openapi.json", key=None)
    assert status == 200
    paths = doc["paths"]
    submit = paths["/api/v1/tasks"]["post"]
    body = submit["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["task_type"]
    assert body["properties"]["priority"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 5,
        "nullable": True,
    }
    ok = submit["responses"]["200"]["content"]["application/json"]["schema"]
    assert set(ok["required"]) >= {"success", "task_id"}
    task = paths["/api/v1/tasks/{task_id}"]["get"]["responses"]["200"]["content"]
    assert "phase" in task["application/json"]["schema"]["properties"]["task"]["properties"]
    error = doc["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"success", "error", "timestamp", "details"}
    text = json.dumps(doc)  # inlined: OpenAPI 3.0 has no $defs
    assert "$defs" not in text and text.count("$ref") == text.count("#/components/schemas/Error")


async def test_every_answer_fits_the_response_model_its_route_declares(
    http: Any, ctx: ApiContext
) -> None:
    writer = ctx.writer
    assert isinstance(writer, FakeWriter)
    orchestrator = await writer.create(
        ORCHESTRATORS, {"metadata": {"name": bodies.ORCHESTRATOR_NAME}, "spec": {}}
    )
    ctx.state.record_orchestrator(orchestrator)
    calls: list[tuple[str, str, Any]] = [
        ("GET", "/health", None),
        ("GET", "/whoami", None),
        ("POST", "/nodes/n-1/register", REGISTRATION | {"agents": [{"agent_id": "a"}]}),
        ("POST", "/nodes/n-1/heartbeat", {"cpu_usage": 3}),
        ("POST", "/tasks", {"task_id": "t-1", "task_type": "x"}),
        ("GET", "/tasks", None),
        ("GET", "/tasks/t-1", None),
        ("POST", "/tasks/t-1/cancel", None),
        ("POST", "/tasks/t-1/retry", None),
        ("GET", "/nodes", None),
        ("GET", "/nodes/n-1", None),
        ("GET", "/nodes/n-1/tasks", None),
        ("PUT", "/nodes/n-1/status", {"status": "maintenance"}),
        ("POST", "/nodes/n-1/drain", {"deadline": 5}),
        ("GET", "/status", None),
        ("GET", "/metrics", None),
        ("GET", "/metrics/performance", None),
        ("GET", "/metrics/history", None),
        ("GET", "/websocket/info", None),
        ("GET", "/config", None),
        ("PUT", "/config", {"network": {"max_nodes": 50}}),
        ("POST", "/control/stop", None),
        ("POST", "/control/start", None),
        ("DELETE", "/nodes/n-1", None),
    ]
    declared = 0
    for method, path, payload in calls:
        status, body = await call(http, method, path, json=payload)
        assert status == 200, (method, path, body)
        match = await http.app.router.resolve(
            make_mocked_request(method, "/api/v1" + path, app=http.app)
        )
        model = spec_of(match.handler).response
        if model is not None:
            declared += 1
            model.model_validate(body)  # raises when the answer does not fit
    assert declared == len(calls)


async def test_shutting_down_answers_every_long_poll_at_once(http: Any, ctx: ApiContext) -> None:
    status, _ = await call(http, "POST", "/nodes/node-a/register", json=REGISTRATION)
    assert status == 200
    poll = asyncio.ensure_future(call(http, "GET", "/nodes/node-a/tasks?wait=60"))
    for _ in range(500):  # until the poll is waiting
        if ctx.waiters.get("node-a"):
            break
        await asyncio.sleep(0.01)
    assert ctx.waiters.get("node-a")
    ctx.close_polls()
    status, body = await asyncio.wait_for(poll, 5)  # not the 60 s it asked for
    assert status == 200 and body["tasks"] == []
    # a poll that arrives while the server stops does not wait either
    status, body = await asyncio.wait_for(call(http, "GET", "/nodes/node-a/tasks?wait=60"), 5)
    assert status == 200 and not ctx.waiters


async def test_put_config_merges_again_onto_a_copy_another_write_overtook(
    http: Any, ctx: ApiContext
) -> None:
    """The API's copy of the orchestrator was behind (the operator had written to it):
    the update is merged onto the object as it is now, the other write kept, not a 409."""
    writer = ctx.writer
    assert isinstance(writer, FakeWriter)
    orchestrator = await writer.create(
        ORCHESTRATORS, {"metadata": {"name": bodies.ORCHESTRATOR_NAME}, "spec": {}}
    )
    ctx.state.record_orchestrator(orchestrator)
    patch = writer.patch
    overtaken: list[Any] = []

    async def patch_once_overtaken(resource: Any, name: str, body: Any, **kw: Any) -> Any:
        if resource is ORCHESTRATORS and not overtaken:
            overtaken.append(body)
            other = writer.objects_by_name[ORCHESTRATORS, name]
            writer._stored(ORCHESTRATORS, {**other, "spec": {"network": {"maxNodes": 77}}})
            raise Conflict(409, "the object has been modified")
        return await patch(resource, name, body, **kw)

    writer.patch = patch_once_overtaken  # type: ignore[method-assign,assignment]
    status, body = await call(
        http, "PUT", "/config", json={"orchestrator": {"heartbeat_interval": 12}}
    )
    assert status == 200, body
    assert overtaken
    assert body["config"]["orchestrator"]["heartbeat_interval"] == 12
    assert body["config"]["network"]["max_nodes"] == 77


def parked_behind_the_cache(ctx: ApiContext) -> tuple[FakeWriter, str]:
    """node-a in maintenance (by the admin's intent) on the API server, in a write the
    API's copy has not seen yet; the fake writer and the node's object name."""
    writer = ctx.writer
    assert isinstance(writer, FakeWriter)
    name = bodies.name_of(ctx.state.nodes_by_name["node-a"])
    stored = writer.objects_by_name[NODES, name]
    parked = {**stored["status"], "status": "maintenance", "adminStatus": "maintenance"}
    writer._stored(NODES, {**stored, "status": parked})
    return writer, name


async def test_a_heartbeat_from_a_stale_copy_never_writes_active_over_a_parked_node(
    http: Any, ctx: ApiContext
) -> None:
    """The operator parked a drained node (maintenance, the draining mark cleared) in a
    write the API's copy has not seen yet; a heartbeat whose fields moved recomputes the
    effective status from the node as it is, instead of writing ``active`` back."""
    status, _ = await call(http, "POST", "/nodes/node-a/register", json=REGISTRATION)
    assert status == 200
    writer, name = parked_behind_the_cache(ctx)
    status, body = await call(
        http,
        "POST",
        "/nodes/node-a/heartbeat",
        json={"status": "active", "cpu_usage": 90.0, "memory_usage": 90.0},
    )
    assert status == 200, body
    written = writer.objects_by_name[NODES, name]["status"]
    assert (written["status"], written["adminStatus"]) == ("maintenance", "maintenance")
    assert written["cpuUsage"] == 90.0  # the heartbeat's own fields are written


async def test_a_node_reporting_active_from_a_stale_copy_never_overrides_the_admin(
    http: Any, ctx: ApiContext
) -> None:
    """An admin put the node in maintenance through another replica, in a write this
    API's copy has not seen yet; the node's own report (PUT status with its key) is
    computed again from the node as it is: maintenance holds, and the answer says so."""
    status, _ = await call(http, "POST", "/nodes/node-a/register", NODE_KEY, json=REGISTRATION)
    assert status == 200
    writer, name = parked_behind_the_cache(ctx)
    status, body = await call(
        http, "PUT", "/nodes/node-a/status", NODE_KEY, json={"status": "active"}
    )
    assert status == 200, body
    assert body["new_status"] == "maintenance"
    written = writer.objects_by_name[NODES, name]["status"]
    assert (written["status"], written["adminStatus"]) == ("maintenance", "maintenance")


async def test_a_heartbeat_that_only_refreshes_the_status_is_written_in_the_next_batch(
    http: Any, ctx: ApiContext
) -> None:
    """A moved status is written by the heartbeat itself; a refresh of an unchanged one
    (due after ``status_refresh``) is kept, the latest per node, and written by the
    batch (``web4ai.api.refreshing``), computed on the node as it is then."""
    from web4ai.api.refreshing import write_kept
    from web4ai.core.heartbeats import REFRESH_INTERVALS

    at_most = 1.25 * max(ctx.status_refresh, REFRESH_INTERVALS * 30)  # refresh_of

    status, _ = await call(http, "POST", "/nodes/node-a/register", json=REGISTRATION)
    assert status == 200
    writer = ctx.writer
    assert isinstance(writer, FakeWriter)
    name = bodies.name_of(next(iter(ctx.state.nodes_by_name.values())))
    first = writer.objects_by_name[NODES, name]["status"]["lastHeartbeat"]
    clock = ctx.clock
    ctx.clock = lambda: clock() + 2 * at_most  # a refresh is due
    status, _ = await call(http, "POST", "/nodes/node-a/heartbeat", json={})
    assert status == 200
    assert writer.objects_by_name[NODES, name]["status"]["lastHeartbeat"] == first
    assert list(ctx.refreshes) == ["node-a"]
    assert await write_kept(ctx) == 1
    refreshed = writer.objects_by_name[NODES, name]["status"]["lastHeartbeat"]
    assert refreshed > first and not ctx.refreshes
    status, _ = await call(http, "POST", "/nodes/node-a/heartbeat", json={"cpu_usage": 77.0})
    assert status == 200  # moved: written at once, nothing kept
    assert writer.objects_by_name[NODES, name]["status"]["cpuUsage"] == 77.0
    assert not ctx.refreshes
