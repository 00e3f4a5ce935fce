"""Issue 9, disruption mode: when most nodes go silent at once (an outage on our side),
none is marked offline for the grace period; a single silent node still is."""

from __future__ import annotations

import pytest
from kubernetes_asyncio import client

from tests.integration.helpers import OperatorProcess, add_node, co, configure, eventually
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
