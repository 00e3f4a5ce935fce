"""Writes to the API server: merge patches, guarded by resourceVersion, counted.

Errors other than the ones a method documents are raised as the typed errors of
``web4ai.k8s.errors`` (``NotFound``, ``Conflict``, ``Invalid``, ``K8sError``)."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections import Counter
from dataclasses import dataclass, field

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from web4ai.core.bodies import GROUP, VERSION
from web4ai.core.crs import AnyBody, Body, Patch
from web4ai.k8s.errors import translated, typed

log = logging.getLogger(__name__)

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


@dataclass
class Writer:
    """Patches custom objects. A 409 (someone acted first) or 404 (gone) returns
    None: the caller re-reads from its cache, it never overwrites."""

    api: client.ApiClient
    namespace: str
    writes: Counter[str] = field(default_factory=Counter)
    conflicts: int = 0

    def objects(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)

    async def get(self, plural: str, name: str) -> Body | None:
        """The object as the API server has it now (not a watch cache); None when gone."""
        try:
            body: Body = await self.objects().get_namespaced_custom_object(
                GROUP, VERSION, self.namespace, plural, name
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise typed(exc) from exc
        return body

    async def read(
        self, plural: str, name: str, *, group: str = GROUP, version: str = VERSION
    ) -> Body:
        """The object as the API server has it now; raises ``NotFound`` when gone."""
        with translated():
            body: Body = await self.objects().get_namespaced_custom_object(
                group, version, self.namespace, plural, name
            )
        return body

    async def create(
        self, plural: str, body: AnyBody, *, group: str = GROUP, version: str = VERSION
    ) -> Body:
        """Create a namespaced object; raises ``Conflict`` when it exists, ``Invalid``
        when the schema rejects it. Not counted in ``writes`` (the caller counts)."""
        with translated():
            created: Body = await self.objects().create_namespaced_custom_object(
                group, version, self.namespace, plural, body
            )
        return created

    async def replace(
        self, plural: str, name: str, body: Body, *, group: str = GROUP, version: str = VERSION
    ) -> Body:
        """Replace an object (guarded by the resourceVersion in ``body``); raises
        ``Conflict`` when it changed meanwhile. Not counted in ``writes``."""
        with translated():
            result: Body = await self.objects().replace_namespaced_custom_object(
                group, version, self.namespace, plural, name, body
            )
        return result

    async def json_patch(
        self,
        plural: str,
        name: str,
        ops: list[Body],
        *,
        group: str = GROUP,
        version: str = VERSION,
    ) -> Body:
        """Apply a JSON patch (RFC 6902, ``test`` ops included); raises ``NotFound``,
        or a ``K8sError`` (a failed ``test`` is a 422). Not counted in ``writes``."""
        with translated():
            result: Body = await self.objects().patch_namespaced_custom_object(
                group, version, self.namespace, plural, name, ops, _content_type=JSON_PATCH
            )
        return result

    async def patch(self, plural: str, name: str, patch: Patch, *, status: bool = False) -> Body:
        """Merge-patch ``name`` (its status with ``status``). Raises ``NotFound`` when it is
        gone and ``Conflict`` when a guard (``metadata.resourceVersion``) no longer holds:
        someone acted first, so re-read and never overwrite. Both are in ``RACED``."""
        co = self.objects()
        call = (
            co.patch_namespaced_custom_object_status
            if status
            else co.patch_namespaced_custom_object
        )
        self.writes[plural] += 1
        try:
            result: Body = await call(
                GROUP, VERSION, self.namespace, plural, name, patch, _content_type=MERGE
            )
            return result
        except ApiException as exc:
            if exc.status in (404, 409):
                self.conflicts += 1
            raise typed(exc) from exc

    async def delete(
        self,
        plural: str,
        name: str,
        resource_version: str | None = None,
        *,
        uid: str | None = None,
    ) -> bool:
        """Delete ``name``; with ``uid`` (or ``resource_version``) only that very object."""
        co = self.objects()
        self.writes[plural] += 1
        preconditions = {}
        if resource_version:
            preconditions["resourceVersion"] = resource_version
        if uid:
            preconditions["uid"] = uid
        body: Body = {"preconditions": preconditions} if preconditions else {}
        try:
            await co.delete_namespaced_custom_object(
                GROUP, VERSION, self.namespace, plural, name, body=body
            )
            return True
        except ApiException as exc:
            if exc.status in (404, 409):
                return False
            raise

    async def delete_lease(self, name: str, uid: str) -> None:
        """Delete the Lease ``name`` only if it is still the object ``uid`` we saw."""
        coord = client.CoordinationV1Api(self.api)
        self.writes["leases"] += 1
        try:
            await coord.delete_namespaced_lease(
                name, self.namespace, body=client.V1DeleteOptions(preconditions={"uid": uid})
            )
        except ApiException as exc:
            if exc.status not in (404, 409):
                raise

    async def create_lease(self, body: Body) -> None:
        self.writes["leases"] += 1
        try:
            await client.CoordinationV1Api(self.api).create_namespaced_lease(self.namespace, body)
        except ApiException as exc:
            if exc.status != 409:
                raise

    async def event(
        self,
        involved: AnyBody,
        reason: str,
        message: str,
        *,
        warning: bool = False,
        component: str = "web4ai-operator",
    ) -> None:
        """A Kubernetes Event on ``involved`` (shown by kubectl describe)."""

        meta = involved["metadata"]
        now = dt.datetime.now(dt.UTC)
        body = {
            "metadata": {
                "name": f"{meta['name']}.{uuid.uuid4().hex[:12]}",
                "namespace": self.namespace,
            },
            "involvedObject": {
                "apiVersion": involved.get("apiVersion", f"{GROUP}/{VERSION}"),
                "kind": involved.get("kind"),
                "name": meta["name"],
                "namespace": self.namespace,
                "uid": meta.get("uid"),
                "resourceVersion": meta.get("resourceVersion"),
            },
            "reason": reason,
            "message": message,
            "type": "Warning" if warning else "Normal",
            "source": {"component": component},
            "firstTimestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "lastTimestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "count": 1,
        }
        self.writes["events"] += 1
        try:
            await client.CoreV1Api(self.api).create_namespaced_event(self.namespace, body)
        except ApiException as exc:  # an event is best effort
            log.warning("could not post event %s on %s: %s", reason, meta["name"], exc.status)
