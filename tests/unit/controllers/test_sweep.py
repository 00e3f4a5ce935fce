"""Kopf sends no DELETED for objects deleted during a watch gap (it relists and goes
on); the operator's sweep finds them in the store Kopf feeds (the orchestrator's) by a
list and drops them with the hooks of a deletion. The nodes, tasks and Leases come from
the operator's own list-watches, which relist after a gap and need no sweep."""

from __future__ import annotations

from typing import Any

from web4ai.core.resources import GROUP, NODES, ORCHESTRATORS, VERSION, Resource
from web4ai.operator.runner import Operator, OperatorOptions


class Unreachable:
    async def request(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the sweep was given its lister: no request may go out")


class NoApi:
    rest_client = Unreachable()


def orchestrator(name: str, version: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Web4AIOrchestrator",
        "metadata": {"name": name, "resourceVersion": version},
        "spec": {},
    }


async def test_an_object_deleted_in_a_watch_gap_is_dropped_by_the_sweep() -> None:
    op = Operator(OperatorOptions(namespace="ns"), NoApi())
    store = op.state.orchestrators
    op.observe(ORCHESTRATORS, None, orchestrator("web4ai", "10"))
    op.observe(ORCHESTRATORS, None, orchestrator("ghost", "11"))
    store.synced.set()
    listings: list[Resource] = []

    async def lister(resource: Resource, selector: str | None) -> tuple[set[str], str]:
        listings.append(resource)
        return {"web4ai"}, "20"

    dropped = await op.sweep(lister)
    assert set(store.store) == {"web4ai"}
    assert dropped == {ORCHESTRATORS: ["ghost"]}
    assert listings == [ORCHESTRATORS]  # nodes, tasks and Leases: never listed by it
    assert NODES not in listings
