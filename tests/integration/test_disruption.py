"""Issue 9: disruption mode, callback URL errors, node incarnations.

When most nodes go silent at once (an outage on our side), none is marked offline for
the grace period; a single silent node still is."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes_asyncio import client

from tests.conftest import Stack
from tests.integration.apiclient import Http
from tests.integration.helpers import (
    OperatorProcess,
    add_node,
    add_task,
    co,
    configure,
    eventually,
    finish,
    task_status,
)
from tests.integration.test_operator_lifecycle import heartbeats
from web4ai.k8s.resources import GROUP, NODES, VERSION


async def node_status(api: client.ApiClient, ns: str, name: str) -> str:
    body = await co(api).get_namespaced_custom_object(GROUP, VERSION, ns, NODES, name)
    return str((body.get("status") or {}).get("status"))


@pytest.mark.usefixtures("operator")
async def test_a_mass_silence_marks_no_node_offline_for_the_grace_period(
    api: client.ApiClient, namespace: str, operator: OperatorProcess
) -> None:
    ns = namespace
    await configure(api, ns, orchestrator={"heartbeatInterval": 1, "disruptionGraceIntervals": 1})
    nodes = [f"crowd-{i}" for i in range(4)]
    for n in [*nodes, "loner"]:
        await add_node(api, ns, n)
    async with heartbeats(api, ns, *nodes) as alive:
        # one silent node among five still goes offline (after the start's grace)
        async def loner_offline() -> bool:
            return await node_status(api, ns, "loner") == "offline"

        await eventually(loner_offline, within=30)
        await configure(
            api, ns, orchestrator={"heartbeatInterval": 1, "disruptionGraceIntervals": 60}
        )
        alive.clear()  # every node goes silent at once: the fault is ours, not theirs

        async def held() -> bool:
            return "disruption mode: 4/4 nodes silent" in operator.output()

        await eventually(held, within=30)
        assert [await node_status(api, ns, n) for n in nodes] == ["active"] * 4


@pytest.mark.usefixtures("operator")
async def test_a_callback_url_with_a_bad_port_settles_as_failed_with_the_reason(
    api: client.ApiClient, namespace: str
) -> None:
    # urlsplit accepts http://h:99999/ and raises only when asked for the port: the
    # delivery crashed outside its handler and the callback was never settled
    await configure(api, namespace, paused=True)
    await add_task(api, namespace, "bad-port", callbackUrl="http://127.0.0.1:99999/")
    await finish(api, namespace, "bad-port", outcome="failed", phase="failed", errorMessage="x")

    async def settled() -> dict[str, Any] | None:
        s = await task_status(api, namespace, "bad-port")
        return s if "callbackDelivered" in s else None

    status = await eventually(settled, within=30)
    assert status["callbackDelivered"] is False
    cond = {c["type"]: c for c in status["conditions"]}["CallbackDelivered"]
    assert "invalid callback URL" in cond["message"] and "99999" in cond["message"]


async def test_a_node_that_restarts_gets_its_old_tasks_requeued_at_once_at_no_cost(
    stack: Stack,
) -> None:
    http = Http(stack.api.base, stack.headers)
    node = "rebooting-node"
    reg = {"host": "127.0.0.1", "capabilities": [node], "boot_id": "boot-1"}
    status, body = await http.post(f"/nodes/{node}/register", reg)
    assert status == 200, body
    status, body = await http.post(
        "/tasks",
        {"task_id": "survives-reboot", "task_type": "t", "requirements": {"capabilities": [node]}},
    )
    assert status == 200, body

    async def offered() -> bool:
        _, b = await http.get(f"/nodes/{node}/tasks?wait=1")
        return any(t["task_id"] == "survives-reboot" for t in b["tasks"])

    await eventually(offered)
    status, body = await http.post("/tasks/survives-reboot/start", {"node_id": node})
    assert status == 200, body
    # the node process restarts: same id, new incarnation
    status, body = await http.post(f"/nodes/{node}/register", {**reg, "boot_id": "boot-2"})
    assert status == 200, body
    _, body = await http.get("/tasks/survives-reboot")
    task = body["task"]
    assert task["retry_count"] == 0
    assert task["phase"] in ("retrying", "queued", "assigned")  # requeued (maybe re-bound)
    assert "restarted" in str(task.get("error_message"))
    # the same incarnation registering again changes nothing
    done_before = task
    status, body = await http.post(f"/nodes/{node}/register", {**reg, "boot_id": "boot-2"})
    assert status == 200, body
    _, body = await http.get("/tasks/survives-reboot")
    assert body["task"]["retry_count"] == done_before["retry_count"]
