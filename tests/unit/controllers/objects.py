"""Bodies as the API creates them (see crds/*.yaml and tests/integration/helpers.py),
for the fakes of tests/unit/controllers/fakes.py and the tests that seed them."""

from __future__ import annotations

from typing import Any

from web4ai.core import bodies
from web4ai.core.ids import IdKind, identity, node_lease_name
from web4ai.core.resources import GROUP, VERSION

Body = dict[str, Any]
NOW = 1_700_000_000.0


def node_body(
    node_id: str,
    *,
    status: str = "active",
    agents: int = 1,
    capabilities: list[str] | None = None,
    heartbeat: float | None = None,
    **observed: Any,
) -> Body:
    ident = identity(IdKind.NODE, node_id)
    st: Body = {"status": status, **observed}
    if heartbeat is not None:
        st["lastHeartbeat"] = bodies.format_time(heartbeat)
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Web4AINode",
        "metadata": {
            "name": ident.name,
            "labels": dict(ident.labels),
            "finalizers": [bodies.NODE_FINALIZER],
        },
        "spec": {
            "nodeId": node_id,
            "host": "127.0.0.1",
            "agentsCount": agents,
            "capabilities": capabilities or [],
        },
        "status": st,
    }


def task_body(
    task_id: str, *, submitted: float = NOW, status: Body | None = None, **spec: Any
) -> Body:
    ident = identity(IdKind.TASK, task_id)
    body: Body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Web4AITask",
        "metadata": {"name": ident.name, "labels": dict(ident.labels)},
        "spec": {
            "taskId": task_id,
            "taskType": "test_task",
            "submittedAt": bodies.format_time(submitted),
            **spec,
        },
    }
    if status is not None:
        body["status"] = status
    return body


def lease_body(node_id: str, renewed: float, *, name: str | None = None) -> Body:
    ident = identity(IdKind.NODE, node_id)
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": name or node_lease_name(ident.name), "labels": dict(ident.labels)},
        "spec": {
            "holderIdentity": node_id,
            "leaseDurationSeconds": 90,
            "renewTime": bodies.format_time(renewed),
        },
    }
