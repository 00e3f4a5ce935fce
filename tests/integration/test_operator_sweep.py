"""The operator's sweep against the real API server: Kopf sends no DELETED for an
object deleted during a watch gap, so the stores Kopf feeds are compared with a fresh
list now and then (``Operator.sweep``). Here the stores are fed as Kopf would, plus a
node and a Lease whose deletions were "missed"; the sweep's real lists (the node
Leases by label) must drop exactly those two."""

from __future__ import annotations

from kubernetes_asyncio import client

from tests.integration.helpers import add_node, co
from web4ai.core.ids import IdKind, identity, node_lease_name
from web4ai.core.resources import GROUP, LEASES, NODES, VERSION
from web4ai.operator.runner import Operator, OperatorOptions


async def test_the_sweep_drops_what_the_api_server_no_longer_has(
    api: client.ApiClient, namespace: str
) -> None:
    await add_node(api, namespace, "present")
    op = Operator(OperatorOptions(namespace=namespace), api)
    nodes = await co(api).list_namespaced_custom_object(GROUP, VERSION, namespace, NODES.plural)
    leases = await client.CoordinationV1Api(api).list_namespaced_lease(namespace)
    for body in nodes["items"]:
        op.observe(NODES, None, body)
    for lease in leases.items:
        op.observe(LEASES, None, api.sanitize_for_serialization(lease))
    ghost = identity(IdKind.NODE, "ghost")
    old = {"name": ghost.name, "labels": dict(ghost.labels), "resourceVersion": "1"}
    op.observe(NODES, None, {"metadata": old, "spec": {"nodeId": "ghost", "host": "h"}})
    lease = {**old, "name": node_lease_name(ghost.name)}
    op.observe(LEASES, None, {"metadata": lease, "spec": {}})
    for store in op.state.stores:
        store.synced.set()

    dropped = await op.sweep()

    present = identity(IdKind.NODE, "present").name
    assert dropped == {NODES: [ghost.name], LEASES: [node_lease_name(ghost.name)]}
    assert set(op.state.nodes.store) == {present}
    assert set(op.state.leases.store) == {node_lease_name(present)}
    assert await op.sweep() == {}
