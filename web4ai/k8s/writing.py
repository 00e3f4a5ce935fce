"""Reads and writes of the API server, keyed by ``web4ai.core.resources.Resource``.

Every write counts itself in ``writes`` (by plural; ``conflicts`` counts the writes that
lost a race, a 404 or 409). Errors are raised as the typed errors of
``web4ai.k8s.errors`` (``NotFound``, ``Conflict``, ``Invalid``, ``K8sError``), except
where a method says otherwise."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TypeVar

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from web4ai.core.crs import AnyBody, Body, Patch
from web4ai.core.resources import GROUP, VERSION, Resource
from web4ai.k8s.errors import Conflict, NotFound, typed

log = logging.getLogger(__name__)

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
T = TypeVar("T")


@dataclass
class Writer:
    """The one client for objects: custom resources and Leases alike."""

    api: client.ApiClient
    namespace: str
    writes: Counter[str] = field(default_factory=Counter)
    conflicts: int = 0

    def objects(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)

    async def _write(self, resource: Resource, call: Awaitable[T]) -> T:
        """Count the write; a 404 or 409 also counts as a conflict. Raises typed errors."""
        self.writes[resource.plural] += 1
        try:
            return await call
        except ApiException as exc:
            if exc.status in (404, 409):
                self.conflicts += 1
            raise typed(exc) from exc

    async def read(self, resource: Resource, name: str) -> Body:
        """The object as the API server has it now (not a watch cache); raises
        ``NotFound`` when gone."""
        try:
            body: Body = await self.objects().get_namespaced_custom_object(
                resource.group, resource.version, self.namespace, resource.plural, name
            )
        except ApiException as exc:
            raise typed(exc) from exc
        return body

    async def get(self, resource: Resource, name: str) -> Body | None:
        """``read``, or None when the object is gone."""
        try:
            return await self.read(resource, name)
        except NotFound:
            return None

    async def create(self, resource: Resource, body: AnyBody) -> Body:
        """Create a namespaced object; raises ``Conflict`` when it exists, ``Invalid``
        when the schema rejects it."""
        created: Body = await self._write(
            resource,
            self.objects().create_namespaced_custom_object(
                resource.group, resource.version, self.namespace, resource.plural, body
            ),
        )
        return created

    async def replace(self, resource: Resource, name: str, body: Body) -> Body:
        """Replace an object (guarded by the resourceVersion in ``body``); raises
        ``Conflict`` when it changed meanwhile."""
        result: Body = await self._write(
            resource,
            self.objects().replace_namespaced_custom_object(
                resource.group, resource.version, self.namespace, resource.plural, name, body
            ),
        )
        return result

    async def json_patch(self, resource: Resource, name: str, ops: list[Body]) -> Body:
        """Apply a JSON patch (RFC 6902, ``test`` ops included); raises ``NotFound``, or a
        ``K8sError`` (a failed ``test`` is a 422)."""
        result: Body = await self._write(
            resource,
            self.objects().patch_namespaced_custom_object(
                resource.group,
                resource.version,
                self.namespace,
                resource.plural,
                name,
                ops,
                _content_type=JSON_PATCH,
            ),
        )
        return result

    async def patch(
        self, resource: Resource, name: str, patch: Patch, *, status: bool = False
    ) -> Body:
        """Merge-patch ``name`` (its status with ``status``). Raises ``NotFound`` when it is
        gone and ``Conflict`` when a guard (``metadata.resourceVersion``) no longer holds:
        someone acted first, so re-read and never overwrite. Both are in ``RACED``."""
        co = self.objects()
        call = (
            co.patch_namespaced_custom_object_status
            if status
            else co.patch_namespaced_custom_object
        )
        result: Body = await self._write(
            resource,
            call(
                resource.group,
                resource.version,
                self.namespace,
                resource.plural,
                name,
                patch,
                _content_type=MERGE,
            ),
        )
        return result

    async def delete(
        self,
        resource: Resource,
        name: str,
        resource_version: str | None = None,
        *,
        uid: str | None = None,
    ) -> bool:
        """Delete ``name``; with ``uid`` (or ``resource_version``) only that very object.
        False when it was gone or was another object by then (a 404 or 409)."""
        preconditions = {}
        if resource_version:
            preconditions["resourceVersion"] = resource_version
        if uid:
            preconditions["uid"] = uid
        body: Body = {"preconditions": preconditions} if preconditions else {}
        try:
            await self._write(
                resource,
                self.objects().delete_namespaced_custom_object(
                    resource.group,
                    resource.version,
                    self.namespace,
                    resource.plural,
                    name,
                    body=body,
                ),
            )
        except (NotFound, Conflict):
            return False
        return True

    async def event(
        self,
        involved: AnyBody,
        reason: str,
        message: str,
        *,
        warning: bool = False,
        component: str = "web4ai-operator",
    ) -> None:
        """A Kubernetes Event on ``involved`` (shown by kubectl describe); best effort:
        a failure is logged, never raised."""

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
