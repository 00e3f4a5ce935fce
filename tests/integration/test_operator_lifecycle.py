"""Node and task life cycles with the operator running against the real control plane:
the wiring of each controller, end to end. Their rules are table tests in-process
(tests/unit/controllers), where timeouts, retention, counters and refused callbacks
moved from here."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from tests.conftest import Cluster
from tests.integration.helpers import (
    OperatorProcess,
    add_node,
    add_task,
    co,
    configure,
    eventually,
    finish,
    renew_lease,
    task_status,
)
from web4ai.core.ids import IdKind, identity, node_lease_name
from web4ai.core.resources import GROUP, NODES, VERSION


@contextlib.asynccontextmanager
async def heartbeats(api: client.ApiClient, ns: str, *node_ids: str) -> AsyncIterator[set[str]]:
    """Renew the given nodes' leases every 0.3 s; remove an id from the set to stop."""
    alive = set(node_ids)

    async def beat() -> None:
        while True:
            for node_id in list(alive):
                await renew_lease(api, ns, node_id)
            await asyncio.sleep(0.3)

    task = asyncio.create_task(beat())
    try:
        yield alive
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def status_is(api: client.ApiClient, ns: str, task_id: str, *wanted: str) -> Any:
    async def probe() -> dict[str, Any] | None:
        status = await task_status(api, ns, task_id)
        # the seed's status or the finer phase
        return status if {status.get("status"), status.get("phase")} & set(wanted) else None

    return probe


async def test_lease_expiry_makes_the_node_offline_and_moves_its_task(
    api: client.ApiClient, cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    await configure(api, namespace, orchestrator={"heartbeatInterval": 1})
    await add_node(api, namespace, "doomed")
    await add_node(api, namespace, "survivor")
    async with heartbeats(api, namespace, "doomed", "survivor") as alive:
        await add_task(api, namespace, "moving", requirements={"preferredNodes": ["doomed"]})
        status = await eventually(status_is(api, namespace, "moving", "assigned"))
        assert status["nodeId"] == "doomed"
        alive.discard("doomed")  # the node stops sending heartbeats

        async def moved() -> dict[str, Any] | None:
            s = await task_status(api, namespace, "moving")
            return s if s.get("nodeId") == "survivor" else None

        status = await eventually(moved, within=20)
    assert (status["status"], status["phase"]) == ("active", "assigned")
    assert status["retryCount"] == 1
    assert [a["nodeId"] for a in status["attempts"]] == ["doomed", "survivor"]
    assert status["assignedNodes"] == ["survivor"]  # the current holder, not a history
    assert status["attempts"][0]["errorMessage"] == "Node became unavailable"
    node = await co(api).get_namespaced_custom_object(
        GROUP, VERSION, namespace, NODES.plural, "doomed"
    )
    assert node["status"]["status"] == "offline"
    ready = {c["type"]: c for c in node["status"]["conditions"]}["Ready"]
    assert ready["status"] == "False" and ready["reason"] == "HeartbeatMissed"
    described = cluster.kubectl("describe", "web4ainode", "doomed", "-n", namespace).stdout
    assert "NodeOffline" in described


async def test_deadline_fails_without_retry(
    api: client.ApiClient, namespace: str, operator: OperatorProcess
) -> None:
    await configure(api, namespace, paused=True)  # nothing runs it
    await add_task(api, namespace, "late", deadline=time.time() + 1.5, maxRetries=5)
    status = await eventually(status_is(api, namespace, "late", "failed"), within=20)
    assert status["retryCount"] == 0
    assert "deadline" in status["errorMessage"]


@pytest.fixture
async def hook_server() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []
    failures = {"left": 1}

    async def hook(request: web.Request) -> web.Response:
        if failures["left"]:  # the first try fails: the operator must retry
            failures["left"] -= 1
            return web.Response(status=503)
        received.append(await request.json())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/hook", received
    finally:
        await runner.cleanup()


async def test_callback_is_posted_on_completion_and_retried(
    api: client.ApiClient,
    namespace: str,
    operator: OperatorProcess,
    hook_server: tuple[str, list[dict[str, Any]]],
) -> None:
    url, received = hook_server
    # the receiver is on loopback: the egress policy must be opened for it
    await configure(api, namespace, security={"callbackAllowedNetworks": ["127.0.0.1/32"]})
    await add_node(api, namespace, "worker")
    await add_task(api, namespace, "with-hook", callbackUrl=url)
    await eventually(status_is(api, namespace, "with-hook", "assigned"))
    await finish(api, namespace, "with-hook", result={"answer": 42})

    async def delivered() -> dict[str, Any] | None:
        s = await task_status(api, namespace, "with-hook")
        return s if "callbackDelivered" in s else None

    status = await eventually(delivered, within=20)
    assert status["callbackDelivered"] is True
    assert len(received) == 1
    assert received[0]["task_id"] == "with-hook"
    assert received[0]["status"] == "completed"
    assert received[0]["result"] == {"answer": 42}


async def test_a_callback_of_a_task_finished_while_the_leader_was_frozen_is_sent(
    api: client.ApiClient,
    namespace: str,
    operator: OperatorProcess,
    hook_server: tuple[str, list[dict[str, Any]]],
) -> None:
    """The leader freezes past its renew deadline (2/3 of the 3 s lease) while a task
    finishes; on waking it steps down and re-wins its own Lease in the same term, and
    the callback of the task that finished meanwhile is still sent."""
    url, received = hook_server
    await configure(api, namespace, security={"callbackAllowedNetworks": ["127.0.0.1/32"]})
    await add_node(api, namespace, "worker")
    await add_task(api, namespace, "frozen-hook", callbackUrl=url)
    await eventually(status_is(api, namespace, "frozen-hook", "assigned"))
    operator.proc.send_signal(signal.SIGSTOP)
    try:
        await finish(api, namespace, "frozen-hook", result={"answer": 7})
        await asyncio.sleep(2.5)
    finally:
        operator.proc.send_signal(signal.SIGCONT)

    async def delivered() -> dict[str, Any] | None:
        s = await task_status(api, namespace, "frozen-hook")
        return s if "callbackDelivered" in s else None

    status = await eventually(delivered, within=20)
    assert status["callbackDelivered"] is True
    assert [r["task_id"] for r in received] == ["frozen-hook"]


async def test_deleting_a_node_requeues_its_tasks_and_removes_its_lease(
    api: client.ApiClient, namespace: str, operator: OperatorProcess
) -> None:
    await configure(api, namespace)
    name = await add_node(api, namespace, "leaving")
    await add_task(api, namespace, "orphan")
    await eventually(status_is(api, namespace, "orphan", "assigned"))
    await co(api).delete_namespaced_custom_object(GROUP, VERSION, namespace, NODES.plural, name)

    async def gone() -> bool:
        try:
            await co(api).get_namespaced_custom_object(
                GROUP, VERSION, namespace, NODES.plural, name
            )
        except ApiException as exc:
            return exc.status == 404
        return False

    await eventually(gone, within=20)
    status = await task_status(api, namespace, "orphan")
    assert status["status"] == "pending"
    assert status["attempts"][0]["errorMessage"] == "Node became unavailable"
    with pytest.raises(ApiException) as info:
        await client.CoordinationV1Api(api).read_namespaced_lease(
            node_lease_name(identity(IdKind.NODE, "leaving").name), namespace
        )
    assert info.value.status == 404
