"""The objects the API and the operator create: a node, a task, the orchestrator and a
Lease, as whole bodies. Pure: no I/O."""

from __future__ import annotations

from typing import Any

from web4ai.core.bodies import NODE_FINALIZER, ORCHESTRATOR_NAME
from web4ai.core.crs import Body, NodeBody, NodeSpec, OrchestratorBody, TaskBody, TaskSpec
from web4ai.core.ids import ObjectIdentity
from web4ai.core.resources import LEASES, NODES, ORCHESTRATORS, TASKS


def node_object(ident: ObjectIdentity, spec: NodeSpec) -> NodeBody:
    """A Web4AINode, with the finalizer that cleans up after it."""
    return {
        "apiVersion": NODES.api_version,
        "kind": NODES.kind,
        "metadata": {"name": ident.name, "labels": ident.labels, "finalizers": [NODE_FINALIZER]},
        "spec": spec,
    }


def task_object(ident: ObjectIdentity, spec: TaskSpec) -> TaskBody:
    return {
        "apiVersion": TASKS.api_version,
        "kind": TASKS.kind,
        "metadata": {"name": ident.name, "labels": ident.labels},
        "spec": spec,
    }


def orchestrator_object() -> OrchestratorBody:
    """The singleton Web4AIOrchestrator, with every setting at its default."""
    return {
        "apiVersion": ORCHESTRATORS.api_version,
        "kind": ORCHESTRATORS.kind,
        "metadata": {"name": ORCHESTRATOR_NAME},
        "spec": {},
    }


PART_OF = "app.kubernetes.io/part-of"


def lease_object(name: str, spec: dict[str, Any], labels: dict[str, str] | None = None) -> Body:
    """A coordination.k8s.io Lease (fields that are None are left out)."""
    # part-of: the README's uninstall removes what the processes made by this label
    metadata: dict[str, Any] = {"name": name, "labels": {PART_OF: "web4ai", **(labels or {})}}
    return {
        "apiVersion": LEASES.api_version,
        "kind": LEASES.kind,
        "metadata": metadata,
        "spec": {k: v for k, v in spec.items() if v is not None},
    }
