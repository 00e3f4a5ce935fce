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
from dataclasses import dataclass, field
from typing import Any

from kubernetes_asyncio import client

from web4ai.core.crs import AnyBody, Body, Patch
from web4ai.core.resources import GROUP, VERSION, Resource
from web4ai.k8s.errors import Conflict, K8sError, NotFound
from web4ai.k8s.keepalive import KeptAlive
from web4ai.k8s.rawhttp import JSON, object_path, send

log = logging.getLogger(__name__)

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
EVENTS = Resource("", "v1", "events", "Event")


@dataclass
class Writer:
    """The one client for objects: custom resources and Leases alike. Its requests go
    straight through the ApiClient's session (``web4ai.k8s.rawhttp``)."""

    api: client.ApiClient
    namespace: str
    writes: Counter[str] = field(default_factory=Counter)
    conflicts: int = 0
    # the requests on connections of their own (web4ai.k8s.keepalive); None: through
    # the ApiClient's aiohttp session (web4ai.k8s.rawhttp)
    kept: KeptAlive | None = None

    @classmethod
    def kept_alive(cls, api: client.ApiClient, namespace: str) -> Writer:
        """A Writer whose requests go on kept-alive connections of their own, when the
        API server is reached without a proxy (``KeptAlive.of``); ``close`` them."""
        return cls(api, namespace, kept=KeptAlive.of(api))

    async def close(self) -> None:
        if self.kept is not None:
            await self.kept.close()

    async def _send(self, method: str, path: str, body: Any = None, **options: Any) -> Any:
        """``rawhttp.send``'s request (``content_type``, ``parse``), on the kept-alive
        connections when there are any."""
        if self.kept is not None:
            return await self.kept.send(method, path, body, **options)
        return await send(self.api, method, path, body, **options)

    async def _write(
        self,
        resource: Resource,
        method: str,
        path: str,
        body: object,
        content_type: str = JSON,
        *,
        parse: bool = True,
    ) -> Any:
        """Count the write; a 404 or 409 also counts as a conflict. Raises typed errors."""
        self.writes[resource.plural] += 1
        try:
            return await self._send(method, path, body, content_type=content_type, parse=parse)
        except (NotFound, Conflict):
            self.conflicts += 1
            raise

    def _path(self, resource: Resource, name: str | None = None) -> str:
        return object_path(resource, self.namespace, name)

    async def read(self, resource: Resource, name: str) -> Body:
        """The object as the API server has it now (not a watch cache); raises
        ``NotFound`` when gone."""
        body: Body = await self._send("GET", self._path(resource, name))
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
        created: Body = await self._write(resource, "POST", self._path(resource), body)
        return created

    async def replace(self, resource: Resource, name: str, body: Body) -> Body:
        """Replace an object (guarded by the resourceVersion in ``body``); raises
        ``Conflict`` when it changed meanwhile."""
        result: Body = await self._write(resource, "PUT", self._path(resource, name), body)
        return result

    async def json_patch(self, resource: Resource, name: str, ops: list[Body]) -> Body:
        """Apply a JSON patch (RFC 6902, ``test`` ops included); raises ``NotFound``, or a
        ``K8sError`` (a failed ``test`` is a 422)."""
        result: Body = await self._write(
            resource, "PATCH", self._path(resource, name), ops, JSON_PATCH
        )
        return result

    async def json_patch_only(self, resource: Resource, name: str, ops: list[Body]) -> None:
        """``json_patch`` whose answer is not read (a Lease renewal: its watch event
        brings the object)."""
        await self._write(
            resource, "PATCH", self._path(resource, name), ops, JSON_PATCH, parse=False
        )

    async def patch(
        self, resource: Resource, name: str, patch: Patch, *, status: bool = False
    ) -> Body:
        """Merge-patch ``name`` (its status with ``status``). Raises ``NotFound`` when it is
        gone and ``Conflict`` when a guard (``metadata.resourceVersion``) no longer holds:
        someone acted first, so re-read and never overwrite. Both are in ``RACED``."""
        path = self._path(resource, name) + ("/status" if status else "")
        result: Body = await self._write(resource, "PATCH", path, patch, MERGE)
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
            await self._write(resource, "DELETE", self._path(resource, name), body, parse=False)
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
            await self._send("POST", object_path(EVENTS, self.namespace), body, parse=False)
        except K8sError as exc:  # an event is best effort
            log.warning("could not post event %s on %s: %s", reason, meta["name"], exc.status)
