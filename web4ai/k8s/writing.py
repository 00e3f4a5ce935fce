"""Writes to the API server: merge patches, guarded by resourceVersion, counted."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from web4ai.k8s.resources import GROUP, VERSION

log = logging.getLogger(__name__)

Body = dict[str, Any]
MERGE = "application/merge-patch+json"


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
            raise
        return body

    async def patch(
        self, plural: str, name: str, patch: Body, *, status: bool = False
    ) -> Body | None:
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
                return None
            raise

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
        involved: Body,
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
