"""Uninstalling: what ``helm uninstall`` runs first (the chart's pre-delete hook runs
``web4ai uninstall``), so that nothing the product made at run time is left behind and
nothing waits forever on a finalizer. The steps, in order:

1. Scale the API and the in-cluster nodes to zero and wait for their pods to go: nothing
   registers, submits or mints a key any more.
2. Delete every task and node; the operator, still running, cleans up each node (its
   Lease, its finalizer).
3. Delete the Web4AIOrchestrator; Kopf stops its daemon and removes its finalizer.
4. Scale the operator to zero and wait: it holds (and would renew) the leader Lease.
5. Delete what the processes made at run time: the Secrets, ConfigMaps and Leases
   labelled ``part-of=web4ai`` that no chart made (``helm.sh/chart`` absent), so the
   admin key the chart keeps stays.

An object still there ``timeout`` seconds after its deletion (no operator running, say)
has its finalizers removed, with a warning: the uninstall always ends."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from kubernetes_asyncio import client

from web4ai.core.crs import Body
from web4ai.core.objects import PART_OF
from web4ai.core.resources import NODES, ORCHESTRATORS, TASKS, Resource
from web4ai.k8s.errors import NotFound
from web4ai.k8s.writing import Writer

log = logging.getLogger(__name__)

RUN_TIME_MADE = f"{PART_OF}=web4ai,!helm.sh/chart"
COMPONENT = "app.kubernetes.io/component"


@dataclass
class Uninstall:
    api: client.ApiClient
    namespace: str
    selector: str = f"{PART_OF}=web4ai"  # the release's Deployments and pods
    timeout: float = 120.0
    poll: float = 1.0
    clock: Callable[[], float] = time.monotonic

    async def run(self) -> None:
        await self.scale_down("api", "node")
        for resources in ((TASKS, NODES), (ORCHESTRATORS,)):
            await self.delete_objects(*resources)
        await self.scale_down("operator")
        await self.delete_run_time_made()

    async def _until(self, what: str, gone: Callable[[], Awaitable[bool]]) -> bool:
        """Poll ``gone`` until true or the timeout; False (with a warning) on the latter."""
        deadline = self.clock() + self.timeout
        while not await gone():
            if self.clock() > deadline:
                log.warning("%s: still there after %.0fs", what, self.timeout)
                return False
            await asyncio.sleep(self.poll)
        return True

    async def scale_down(self, *components: str) -> None:
        selector = f"{self.selector},{COMPONENT} in ({','.join(components)})"
        apps, core = client.AppsV1Api(self.api), client.CoreV1Api(self.api)
        deployments = await apps.list_namespaced_deployment(self.namespace, label_selector=selector)
        for deployment in deployments.items:
            name = deployment.metadata.name
            await apps.patch_namespaced_deployment_scale(
                name, self.namespace, {"spec": {"replicas": 0}}
            )
            log.info("scaled deployment %s to 0", name)

        async def no_pods() -> bool:
            pods = await core.list_namespaced_pod(self.namespace, label_selector=selector)
            return not pods.items

        await self._until(f"pods of {', '.join(components)}", no_pods)

    async def delete_objects(self, *resources: Resource) -> None:
        co = client.CustomObjectsApi(self.api)

        async def left(resource: Resource) -> list[Body]:
            listed = await co.list_namespaced_custom_object(
                resource.group, resource.version, self.namespace, resource.plural
            )
            items: list[Body] = listed.get("items") or []
            return items

        for resource in resources:
            await co.delete_collection_namespaced_custom_object(
                resource.group, resource.version, self.namespace, resource.plural
            )
            log.info("deleting every %s", resource.kind)

        async def all_gone() -> bool:
            return not any([await left(r) for r in resources])

        if await self._until(", ".join(r.plural for r in resources), all_gone):
            return
        writer = Writer(self.api, self.namespace)
        for resource in resources:
            for body in await left(resource):
                name = body["metadata"]["name"]
                log.warning("%s %s: removing its finalizers (nothing did)", resource.kind, name)
                with contextlib.suppress(NotFound):
                    await writer.patch(resource, name, {"metadata": {"finalizers": None}})

    async def delete_run_time_made(self) -> None:
        core = client.CoreV1Api(self.api)
        coordination = client.CoordinationV1Api(self.api)
        ns, selector = self.namespace, RUN_TIME_MADE
        await core.delete_collection_namespaced_secret(ns, label_selector=selector)
        await core.delete_collection_namespaced_config_map(ns, label_selector=selector)
        await coordination.delete_collection_namespaced_lease(ns, label_selector=selector)
        log.info("deleted the Secrets, ConfigMaps and Leases made at run time (%s)", selector)
