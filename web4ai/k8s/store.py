"""An in-memory store of raw bodies by object name that never steps back.

The stores behind ``ClusterState``: fed by a list + watch (``web4ai.k8s.listwatch``;
the API's informers), by Kopf's handlers (the operator's nodes, Leases and
orchestrator) and by our own writes' results (``put``). Whatever feeds it, a
version older than the one held never replaces it, and ``on_change`` is called
once per change.

What is stored is ``lean(body)`` (``web4ai.core.lean``: no managedFields, and for tasks
no more than the process reads), made once per incoming version; ``on_change`` sees
the incoming body itself (its hooks may show it whole, e.g. a WebSocket message) and
the lean one held before. Hooks keep no reference to the incoming body.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from web4ai.core.crs import Body as Body  # re-exported: the one alias lives in core.crs
from web4ai.core.lean import lean_object

OnChange = Callable[[str, Body, Body | None], None]  # (event type, new body, old body)
Lean = Callable[[Body], Body]  # what of a body is kept


def revision(body: Body) -> int | None:
    """A body's resourceVersion as etcd's revision, or None when it is not one.

    resourceVersions are opaque to clients in general; with etcd they are its
    revisions, increasing integers, which is what the store compares.
    """
    try:
        return int(body["metadata"]["resourceVersion"])
    except (KeyError, TypeError, ValueError):
        return None


def newer(a: Body, b: Body) -> bool:
    """Whether ``a`` is a later version of the object than ``b``. A version that is not
    a revision counts as "not newer", so our own write wins as before."""
    ra, rb = revision(a), revision(b)
    return ra is not None and rb is not None and ra > rb


@dataclass(kw_only=True)
class Store:
    on_change: OnChange | None = None
    lean: Lean = lean_object
    store: dict[str, Body] = field(default_factory=dict)
    synced: asyncio.Event = field(default_factory=asyncio.Event)
    # set once what the passes need first is held (``ListWatch.first``), or with synced
    primed: asyncio.Event = field(default_factory=asyncio.Event)
    # while a list runs beside a watch (``ListWatch.list_watching``): the version at
    # which the watch saw each object deleted, so that an older page does not bring
    # it back
    tombstones: dict[str, int] | None = None
    version: int = 0  # bumped on every change: readers memoize on it

    def mark_synced(self) -> None:
        """Every object a list shows is held (what the passes need first with them)."""
        self.synced.set()
        self.primed.set()

    def put(self, body: Body) -> Body | None:
        """Our own write's result, into the store at once; returns the old body.

        The watch may already have delivered a newer version (it travels on another
        connection than our write's response), so an older one never replaces it.
        """
        name = body["metadata"]["name"]
        old = self.store.get(name)
        if old is not None and newer(old, body):
            return old
        self.store[name] = self.lean(body)
        self.version += 1
        return old

    def _emit(self, kind: str, new: Body, old: Body | None) -> None:
        self.version += 1
        if self.on_change is not None:
            self.on_change(kind, new, old)

    def apply_list(self, listed: list[Body], list_version: str) -> None:
        """A (re)list's snapshot into the store, never stepping back: an object we hold
        in a later version than the snapshot (our own write, recorded meanwhile) stays."""
        self.sweep(self.apply_page(listed), list_version)

    def _buried(self, body: Body) -> bool:
        """Whether a watch running beside the list saw this object deleted at or after
        this version of it."""
        if not self.tombstones:
            return False
        gone, version = self.tombstones.get(body["metadata"]["name"]), revision(body)
        return gone is not None and version is not None and version <= gone

    def apply_page(self, listed: list[Body]) -> list[str]:
        """One page of a (re)list into the store (never stepping back); returns the
        names listed. The list's ``sweep`` follows its last page."""
        names = []
        for body in listed:
            name = body["metadata"]["name"]
            names.append(name)
            if self._buried(body):
                continue  # the watch saw it deleted after this page's snapshot
            old = self.store.get(name)
            if old is not None and (
                old["metadata"]["resourceVersion"] == body["metadata"]["resourceVersion"]
                or newer(old, body)
            ):
                continue
            self.store[name] = self.lean(body)
            self._emit("ADDED" if old is None else "MODIFIED", body, old)
        return names

    def sweep(self, listed: Collection[str], list_version: str) -> list[str]:
        """Drop what a list at ``list_version`` no longer shows (a deletion missed in a
        watch gap), and only if held in a version older than the list: an object added
        after the list was taken stays. Returns the names dropped."""
        snapshot = {"metadata": {"resourceVersion": list_version}}
        present = listed if isinstance(listed, set | frozenset) else set(listed)
        gone = [n for n in self.store if n not in present and not newer(self.store[n], snapshot)]
        for name in gone:
            body = self.store.pop(name)
            self._emit("DELETED", body, body)
        return gone

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
            if self.tombstones is not None and (version := revision(obj)) is not None:
                self.tombstones[name] = version
        elif old is not None and old["metadata"].get("resourceVersion") == obj["metadata"].get(
            "resourceVersion"
        ):
            return  # the same version again (we recorded our own write's result)
        else:
            self.store[name] = self.lean(obj)
        self._emit(kind, obj, old)
