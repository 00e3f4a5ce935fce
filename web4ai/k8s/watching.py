"""Informers: list, then watch from the list's resourceVersion; relist on 410 Gone.

An informer keeps an in-memory store of raw bodies by object name and calls
``on_change`` for every change, so controllers and the API answer from
memory. ``synced`` is set once the first list is in the store.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubernetes_asyncio import client, watch
from kubernetes_asyncio.client.exceptions import ApiException

from web4ai.core.crs import Body as Body  # re-exported: the one alias lives in core.crs

log = logging.getLogger(__name__)

OnChange = Callable[[str, Body, Body | None], None]  # (event type, new body, old body)


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    plural: str


LEASES = Resource("coordination.k8s.io", "v1", "leases")


def newer(a: Body, b: Body) -> bool:
    """Whether ``a`` is a later version of the object than ``b``.

    resourceVersions are opaque to clients in general; with etcd they are its
    revisions, increasing integers, which is what this compares. Anything else
    counts as "not newer", so our own write wins as before.
    """
    try:
        return int(a["metadata"]["resourceVersion"]) > int(b["metadata"]["resourceVersion"])
    except (KeyError, TypeError, ValueError):
        return False


class Gone(Exception):
    """The watch's resourceVersion is too old: relist."""


@dataclass
class Informer:
    api: client.ApiClient
    resource: Resource
    namespace: str
    on_change: OnChange | None = None
    label_selector: str | None = None
    watch_timeout: int = 300
    store: dict[str, Body] = field(default_factory=dict)
    synced: asyncio.Event = field(default_factory=asyncio.Event)
    relists: int = 0
    version: int = 0  # bumped on every change: readers memoize on it

    def put(self, body: Body) -> Body | None:
        """Our own write's result, into the store at once; returns the old body.

        The watch may already have delivered a newer version (it travels on another
        connection than our write's response), so an older one never replaces it.
        """
        name = body["metadata"]["name"]
        old = self.store.get(name)
        if old is not None and newer(old, body):
            return old
        self.store[name] = body
        self.version += 1
        return old

    def _emit(self, kind: str, new: Body, old: Body | None) -> None:
        self.version += 1
        if self.on_change is not None:
            self.on_change(kind, new, old)

    async def _list(self) -> str:
        co = client.CustomObjectsApi(self.api)
        r = self.resource
        kwargs: dict[str, Any] = {}
        if self.label_selector:
            kwargs["label_selector"] = self.label_selector
        result = await co.list_namespaced_custom_object(
            r.group, r.version, self.namespace, r.plural, **kwargs
        )
        list_version = str(result["metadata"]["resourceVersion"])
        self.apply_list(result.get("items", []), list_version)
        self.relists += 1
        self.synced.set()
        return list_version

    def apply_list(self, listed: list[Body], list_version: str) -> None:
        """A (re)list's snapshot into the store, never stepping back: an object we hold
        in a later version than the snapshot (our own write, recorded meanwhile) stays."""
        items: dict[str, Body] = {i["metadata"]["name"]: i for i in listed}
        snapshot = {"metadata": {"resourceVersion": list_version}}
        for name in list(self.store):
            if name not in items and not newer(self.store[name], snapshot):
                gone = self.store.pop(name)
                self._emit("DELETED", gone, gone)
        for name, body in items.items():
            old = self.store.get(name)
            if old is not None and (
                old["metadata"]["resourceVersion"] == body["metadata"]["resourceVersion"]
                or newer(old, body)
            ):
                continue
            self.store[name] = body
            self._emit("ADDED" if old is None else "MODIFIED", body, old)

    def apply_event(self, kind: str, obj: Body) -> None:
        """A watch event into the store, never stepping back: a version older than the
        one held (our own write's result got there first) is dropped, which also drops
        the duplicate messages its hooks would send."""
        name = obj["metadata"]["name"]
        old = self.store.get(name)
        if old is not None and newer(old, obj):
            return
        if kind == "DELETED":
            self.store.pop(name, None)
        elif old is not None and old["metadata"].get("resourceVersion") == obj["metadata"].get(
            "resourceVersion"
        ):
            return  # the same version again (we recorded our own write's result)
        else:
            self.store[name] = obj
        self._emit(kind, obj, old)

    async def _watch(self, resource_version: str) -> str:
        co = client.CustomObjectsApi(self.api)
        r = self.resource
        kwargs: dict[str, Any] = {
            "resource_version": resource_version,
            "allow_watch_bookmarks": True,
            "timeout_seconds": self.watch_timeout,
        }
        if self.label_selector:
            kwargs["label_selector"] = self.label_selector
        w = watch.Watch()
        try:
            async for event in w.stream(
                co.list_namespaced_custom_object,
                r.group,
                r.version,
                self.namespace,
                r.plural,
                **kwargs,
            ):
                kind = event["type"]
                obj = event["object"]
                if kind == "ERROR":
                    if isinstance(obj, dict) and obj.get("code") == 410:
                        raise Gone()
                    raise ApiException(status=obj.get("code", 500), reason=str(obj))
                resource_version = obj["metadata"]["resourceVersion"]
                if kind == "BOOKMARK":
                    continue
                self.apply_event(kind, obj)
        except ApiException as exc:
            if exc.status == 410:
                raise Gone() from exc
            raise
        finally:
            await w.close()
        return resource_version

    async def run(self) -> None:
        """List and watch until cancelled; errors back off and resume."""
        backoff = 0.2
        resource_version: str | None = None
        while True:
            try:
                if resource_version is None:
                    resource_version = await self._list()
                resource_version = await self._watch(resource_version)
                backoff = 0.2
            except Gone:
                log.info("%s: resourceVersion too old, relisting", self.resource.plural)
                resource_version = None
            except asyncio.CancelledError:
                raise
            except ApiException as exc:
                # 429 "storage is (re)initializing" is normal right after a CRD appears
                level = logging.DEBUG if exc.status == 429 else logging.WARNING
                log.log(
                    level,
                    "%s watch failed: %s %s; retrying in %.1fs",
                    self.resource.plural,
                    exc.status,
                    exc.reason,
                    backoff,
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
                resource_version = None
            except Exception as exc:
                log.warning(
                    "%s watch failed (%s); retrying in %.1fs", self.resource.plural, exc, backoff
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
                resource_version = None
