"""The operator's sweep against the real API server: Kopf sends no DELETED for an
object deleted during a watch gap, so the store Kopf feeds (the orchestrator's) is
compared with a fresh list now and then (``Operator.sweep``). Here the store is fed as
Kopf would, plus an object whose deletion was "missed"; the sweep's real list must drop
exactly that one. (Nodes, tasks and Leases come from the operator's own list-watches,
which relist after a gap and need no sweep.)"""

from __future__ import annotations

from kubernetes_asyncio import client

from tests.integration.helpers import co
from web4ai.core.resources import GROUP, ORCHESTRATORS, VERSION
from web4ai.operator.runner import Operator, OperatorOptions


async def test_the_sweep_drops_what_the_api_server_no_longer_has(
    api: client.ApiClient, namespace: str
) -> None:
    await co(api).create_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        ORCHESTRATORS.plural,
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Web4AIOrchestrator",
            "metadata": {"name": "present"},
            "spec": {},
        },
    )
    op = Operator(OperatorOptions(namespace=namespace), api)
    listed = await co(api).list_namespaced_custom_object(
        GROUP, VERSION, namespace, ORCHESTRATORS.plural
    )
    for body in listed["items"]:
        op.observe(ORCHESTRATORS, None, body)
    ghost = {"name": "ghost", "resourceVersion": "1"}
    op.observe(ORCHESTRATORS, None, {"metadata": ghost, "spec": {}})
    for store in op.state.stores:
        store.synced.set()

    dropped = await op.sweep()

    assert dropped == {ORCHESTRATORS: ["ghost"]}
    assert set(op.state.orchestrators.store) == {"present"}
    assert await op.sweep() == {}
