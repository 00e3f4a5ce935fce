"""The operator's sweep against the real API server: Kopf sends no DELETED for an
object deleted during a watch gap, so the stores Kopf feeds (the nodes and the
orchestrator) are compared with a fresh list now and then (``Operator.sweep``). Here
the node store is fed as Kopf would, plus a node whose deletion was "missed"; the
sweep's real list must drop exactly that one. (The node Leases come from the
operator's own list-watch, which relists after a gap and needs no sweep.)"""

from __future__ import annotations

from kubernetes_asyncio import client

from tests.integration.helpers import add_node, co
from web4ai.core.ids import IdKind, identity
from web4ai.core.resources import GROUP, NODES, VERSION
from web4ai.operator.runner import Operator, OperatorOptions


async def test_the_sweep_drops_what_the_api_server_no_longer_has(
    api: client.ApiClient, namespace: str
) -> None:
    await add_node(api, namespace, "present")
    op = Operator(OperatorOptions(namespace=namespace), api)
    nodes = await co(api).list_namespaced_custom_object(GROUP, VERSION, namespace, NODES.plural)
    for body in nodes["items"]:
        op.observe(NODES, None, body)
    ghost = identity(IdKind.NODE, "ghost")
    old = {"name": ghost.name, "labels": dict(ghost.labels), "resourceVersion": "1"}
    op.observe(NODES, None, {"metadata": old, "spec": {"nodeId": "ghost", "host": "h"}})
    for store in op.state.stores:
        store.synced.set()

    dropped = await op.sweep()

    present = identity(IdKind.NODE, "present").name
    assert dropped == {NODES: [ghost.name]}
    assert set(op.state.nodes.store) == {present}
    assert await op.sweep() == {}
