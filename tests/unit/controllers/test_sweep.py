"""Kopf sends no DELETED for objects deleted during a watch gap (it relists and goes
on); the operator's sweep finds them by a list and drops them with the hooks of a
deletion, so the scheduler stops counting a node that is gone."""

from __future__ import annotations

from typing import Any

from tests.unit.controllers.objects import node_body
from web4ai.core import bodies
from web4ai.core.resources import NODES, Resource
from web4ai.operator.runner import Operator, OperatorOptions


class Unreachable:
    async def request(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the sweep was given its lister: no request may go out")


class NoApi:
    rest_client = Unreachable()


async def test_a_node_deleted_in_a_watch_gap_is_dropped_by_the_sweep() -> None:
    op = Operator(OperatorOptions(namespace="ns"), NoApi())
    nodes = op.state.nodes
    for i, node_id in enumerate(["alive", "ghost"]):
        body = node_body(node_id)
        body["metadata"]["resourceVersion"] = str(10 + i)
        op.observe(NODES, None, body)
    nodes.synced.set()
    assert set(op.state.node_views()) == {"alive", "ghost"}
    listings: list[Resource] = []

    async def lister(resource: Resource, selector: str | None) -> tuple[set[str], str]:
        listings.append(resource)
        if resource == NODES:
            alive = {
                n for n, b in nodes.store.items() if bodies.node_id(bodies.as_node(b)) == "alive"
            }
            return alive, "20"
        raise RuntimeError("this list fails")  # logged; the other kinds go on

    dropped = await op.sweep(lister)
    assert [bodies.node_id(bodies.as_node(b)) for b in nodes.store.values()] == ["alive"]
    assert list(dropped) == [NODES] and len(dropped[NODES]) == 1
    assert set(op.state.node_views()) == {"alive"}
    assert listings == [NODES]  # Leases and the orchestrator: not listed yet (unsynced)
