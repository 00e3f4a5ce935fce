"""Heartbeats into node Leases against the real API server (web4ai.core.renewals): a
heartbeat soon after the last renewal is held, shown at once as the node's
last_heartbeat, and written to the Lease with its own time before the Lease could
expire; a node that keeps beating never goes offline."""

from __future__ import annotations

import asyncio

import pytest
from kubernetes_asyncio import client

from tests.conftest import Stack
from tests.integration.apiclient import Http
from tests.integration.helpers import eventually
from web4ai.core.ids import IdKind, identity, node_lease_name

REGISTRATION = {"host": "127.0.0.1", "port": 8090, "max_concurrent_tasks": 1}
INTERVAL = 2.0


@pytest.fixture
def http(stack: Stack) -> Http:
    return Http(stack.api.base, stack.headers)


async def renew_time(api: client.ApiClient, ns: str, node_id: str) -> float:
    name = node_lease_name(identity(IdKind.NODE, node_id).name)
    lease = await client.CoordinationV1Api(api).read_namespaced_lease(name, ns)
    return lease.spec.renew_time.timestamp()  # type: ignore[no-any-return]


async def last_heartbeat(http: Http, node_id: str) -> float:
    status, body = await http.get(f"/nodes/{node_id}")
    assert status == 200, body
    return float(body["node"]["last_heartbeat"])


async def test_a_held_heartbeat_is_shown_at_once_and_on_the_lease_in_time(
    stack: Stack, http: Http, api: client.ApiClient
) -> None:
    await http.put("/config", {"orchestrator": {"heartbeat_interval": INTERVAL}})
    try:
        status, body = await http.post("/nodes/held-1/register", REGISTRATION)
        assert status == 200, body
        registered = await renew_time(api, stack.namespace, "held-1")
        status, body = await http.post("/nodes/held-1/heartbeat", {})
        assert status == 200, body
        shown = await last_heartbeat(http, "held-1")
        assert shown > registered
        # held: the Lease still says the registration
        assert await renew_time(api, stack.namespace, "held-1") == registered

        async def written() -> bool:
            return await renew_time(api, stack.namespace, "held-1") != registered

        await eventually(written, within=3 * INTERVAL)
        # with the heartbeat's own time, what last_heartbeat showed
        assert abs(await renew_time(api, stack.namespace, "held-1") - shown) < 1e-3
    finally:
        await http.put("/config", {"orchestrator": {"heartbeat_interval": 30}})


async def test_a_node_beating_at_its_interval_stays_active(stack: Stack, http: Http) -> None:
    await http.put("/config", {"orchestrator": {"heartbeat_interval": 1}})
    try:
        status, body = await http.post("/nodes/held-2/register", REGISTRATION)
        assert status == 200, body
        for _ in range(8):  # 8 intervals: a Lease of 3 would expire without the held ones
            await asyncio.sleep(1)
            status, body = await http.post("/nodes/held-2/heartbeat", {})
            assert status == 200, body
            _, node = await http.get("/nodes/held-2")
            assert node["node"]["status"] == "active", node
    finally:
        await http.put("/config", {"orchestrator": {"heartbeat_interval": 30}})
