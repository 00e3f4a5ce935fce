"""List, then watch from the list's resourceVersion, into a ``Store``; relist on 410 Gone.

Lean on purpose: the list and the watch stream are read raw and parsed once with
``json`` (kubernetes_asyncio's ``Watch`` parses each event, dumps it and parses it
again to "deserialize" a custom object into the same dict); see README, "Operator
start-up budgets".
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
from collections.abc import AsyncGenerator, Awaitable, Iterator
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from web4ai.core.resources import Resource
from web4ai.k8s.store import Store

log = logging.getLogger(__name__)


Names = list[str]  # the names a list showed


class Gone(Exception):
    """The watch's resourceVersion is too old: relist."""


async def checked(call: Awaitable[Any]) -> Any:
    """The raw response of a list or watch call made with ``_preload_content=False``
    (the caller releases it); an error status raised, as it is not checked then."""
    response = await call
    if not 200 <= response.status <= 299:
        body = await response.text()
        response.release()
        raise ApiException(status=response.status, reason=f"{response.reason}: {body[:200]}")
    return response


async def read_json(response: Any) -> Any:
    """The parsed body of a raw list response, which is released."""
    try:
        return json.loads(await response.read())
    finally:
        response.release()


async def watch_events(response: Any) -> AsyncGenerator[tuple[str, dict[str, Any]]]:
    """The ``(type, object)`` of each event of a raw watch response until the server
    ends the stream (the response is released then, or when the iteration is closed).
    An ERROR event is raised: ``Gone`` for a 410, an ``ApiException`` for the rest."""
    try:
        async for line in response.content:
            if not line.strip():
                continue
            event = json.loads(line)
            kind, obj = event.get("type"), event.get("object") or {}
            if kind == "ERROR":
                code = obj.get("code", 500)
                if code == 410:
                    raise Gone(str(obj.get("message") or obj))
                raise ApiException(status=code, reason=str(obj.get("message") or obj))
            yield kind, obj
    finally:
        response.release()


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while a list fills a store: the bodies are
    millions of acyclic objects (freed by reference counting), and each collection of
    the oldest generation would walk every one held so far; that was 60 % of the CPU of
    syncing 100,000 tasks. On again after, as it was."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


@dataclass
class ListWatch:
    """Feeds ``store`` with ``resource`` in ``namespace`` until cancelled."""

    api: client.ApiClient
    resource: Resource
    namespace: str
    store: Store
    label_selector: str | None = None
    watch_timeout: int = 300
    relists: int = 0
    page_size: int = 500
    # a field selector listed alone before the first list: what the passes need first
    # (the operator's unfinished tasks), in the store while the rest is still listed
    first: str | None = None

    async def request(self, **kwargs: Any) -> Any:
        """The raw aiohttp response of a list or watch call (the caller releases it)."""
        co = client.CustomObjectsApi(self.api)
        r = self.resource
        if self.label_selector:
            kwargs["label_selector"] = self.label_selector
        return await checked(
            co.list_namespaced_custom_object(
                r.group, r.version, self.namespace, r.plural, _preload_content=False, **kwargs
            )
        )

    async def list(self) -> str:
        """List in pages of ``page_size`` (one snapshot): each page goes into the store
        as it comes, so a list of 100,000 tasks is never held whole, nor parsed at once."""
        with collector_paused():
            names, list_version = await self._pages()
        self.store.sweep(names, list_version)
        self.relists += 1
        self.store.mark_synced()
        return list_version

    async def prime(self) -> str | None:
        """The objects ``first`` selects into the store (``primed`` set), before the
        first whole list: with 100,000 finished tasks kept, the passes start on the few
        unfinished in a second instead of after the whole list. Nothing is swept: the
        whole list that follows does that. Returns that list's resourceVersion, or None
        when nothing was primed: without ``first``, once primed, or when the server
        cannot select by that field (a CRD without ``selectableFields``, Kubernetes
        before 1.31) or the list fails; the passes then wait for the whole list."""
        if self.first is None or self.store.primed.is_set():
            return None
        try:
            with collector_paused():
                _, version = await self._pages(field_selector=self.first)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.info(
                "%s: cannot list %s first (%s); the passes wait for the whole list",
                self.resource.plural,
                self.first,
                exc,
            )
            return None
        self.store.primed.set()
        return version

    async def list_watching(self, since: str) -> str:
        """The whole list while a watch from ``since`` (the first list's version)
        already feeds the store, so that what changes meanwhile (a task submitted
        during a list of 100,000) is seen at once. A deletion the watch brings is
        remembered until the list ends (``Store.tombstones``), so an older page does
        not bring the object back. Returns where that watch's stream ended, to watch
        on from there (events after it are replayed); a watch that failed is raised
        then, and the caller lists again."""
        self.store.tombstones = {}
        early = asyncio.create_task(self.watch(since))
        try:
            await self.list()
        except BaseException:
            early.cancel()
            await asyncio.gather(early, return_exceptions=True)
            raise
        finally:
            self.store.tombstones = None
        return await early

    async def _pages(self, **selecting: Any) -> tuple[Names, str]:
        """Every page of one list into the store; the names listed and the list's
        resourceVersion."""
        names: list[str] = []
        token: str | None = None
        list_version = ""
        while True:
            paging = {"limit": self.page_size} | ({"_continue": token} if token else {})
            result = await read_json(await self.request(**selecting, **paging))
            list_version = list_version or str(result["metadata"]["resourceVersion"])
            names += self.store.apply_page(result.get("items") or [])
            token = result["metadata"].get("continue")
            del result
            if not token:
                break
        return names, list_version

    async def watch(self, resource_version: str) -> str:
        """Watch from ``resource_version`` until the server ends the stream; returns the
        last resourceVersion seen (bookmarks included)."""
        response = await self.request(
            watch=True,
            resource_version=resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=self.watch_timeout,
        )
        async with aclosing(watch_events(response)) as events:
            async for kind, obj in events:
                resource_version = obj["metadata"]["resourceVersion"]
                if kind == "BOOKMARK":
                    continue
                self.store.apply_event(kind, obj)
        return resource_version

    async def run(self) -> None:
        """List and watch until cancelled; errors back off and resume."""
        backoff = 0.2
        resource_version: str | None = None
        plural = self.resource.plural
        while True:
            try:
                if resource_version is None:
                    since = await self.prime()
                    if since is None:
                        resource_version = await self.list()
                    else:
                        resource_version = await self.list_watching(since)
                resource_version = await self.watch(resource_version)
                backoff = 0.2
            except Gone:
                log.info("%s: resourceVersion too old, relisting", plural)
                resource_version = None
            except asyncio.CancelledError:
                raise
            except ApiException as exc:
                if exc.status == 410:
                    log.info("%s: resourceVersion too old, relisting", plural)
                    resource_version = None
                    continue
                # 429 "storage is (re)initializing" is normal right after a CRD appears
                level = logging.DEBUG if exc.status == 429 else logging.WARNING
                log.log(
                    level,
                    "%s watch failed: %s %s; retrying in %.1fs",
                    plural,
                    exc.status,
                    exc.reason,
                    backoff,
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
                resource_version = None
            except Exception as exc:
                log.warning("%s watch failed (%s); retrying in %.1fs", plural, exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
                resource_version = None


async def listed(
    api: client.ApiClient, resource: Resource, namespace: str, label_selector: str | None = None
) -> tuple[set[str], str]:
    """The names of the objects that exist now, and the list's resourceVersion (one
    list, served by the watch cache)."""
    feed = ListWatch(api, resource, namespace, Store(), label_selector=label_selector)
    result = await read_json(await feed.request(resource_version="0"))
    names = {item["metadata"]["name"] for item in result.get("items") or []}
    return names, str(result["metadata"]["resourceVersion"])


async def listed_names(
    api: client.ApiClient, resource: Resource, namespace: str, label_selector: str | None = None
) -> set[str]:
    """The names of the objects that exist now."""
    return (await listed(api, resource, namespace, label_selector))[0]


@dataclass
class Informer(Store):
    """A ``Store`` fed by its own list + watch: the API's informers. ``synced`` is set
    once the first list is in the store. (The operator's Kopf handlers feed its nodes,
    Leases and orchestrator; its daemon runs a ``ListWatch`` of the tasks.)"""

    api: Any
    resource: Resource
    namespace: str
    label_selector: str | None = None
    watch_timeout: int = 300

    async def run(self) -> None:
        """List and watch until cancelled; errors back off and resume."""
        await ListWatch(
            self.api,
            self.resource,
            self.namespace,
            self,
            label_selector=self.label_selector,
            watch_timeout=self.watch_timeout,
        ).run()
