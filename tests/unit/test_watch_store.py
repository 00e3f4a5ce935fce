"""The informer store never lets an older version replace a newer one."""

from __future__ import annotations

import gc
from typing import Any

from web4ai.core.resources import LEASES
from web4ai.k8s.listwatch import Informer, collector_paused
from web4ai.k8s.store import Store, newer


def body(rv: str, status: str) -> dict[str, Any]:
    return {"metadata": {"name": "t", "resourceVersion": rv}, "status": {"status": status}}


def test_own_write_older_than_the_watch_is_ignored() -> None:
    informer = Informer(api=None, resource=LEASES, namespace="x")
    informer.store["t"] = body("12", "assigned")  # the watch was faster
    before = informer.version
    old = informer.put(body("11", "pending"))
    assert old is not None and old["status"]["status"] == "assigned"
    assert informer.store["t"]["status"]["status"] == "assigned"
    assert informer.version == before
    informer.put(body("13", "running"))
    assert informer.store["t"]["status"]["status"] == "running"
    assert informer.version == before + 1


def test_newer_compares_revisions_and_tolerates_opaque_ones() -> None:
    assert newer(body("10", "a"), body("9", "b"))
    assert not newer(body("9", "a"), body("10", "b"))
    assert not newer(body("x", "a"), body("1", "b"))


def test_the_watch_path_never_steps_back_nor_repeats() -> None:
    seen: list[tuple[str, str]] = []
    informer = Informer(
        api=None,
        resource=LEASES,
        namespace="x",
        on_change=lambda kind, new, old: seen.append((kind, new["status"]["status"])),
    )
    informer.put(body("12", "completed"))  # our own write's result came first
    informer.apply_event("MODIFIED", body("11", "running"))  # the watch's older copy
    informer.apply_event("MODIFIED", body("12", "completed"))  # and the same one again
    assert informer.store["t"]["status"]["status"] == "completed"
    assert seen == []  # no duplicate task_completed, no "running" after "completed"
    informer.apply_event("MODIFIED", body("13", "failed"))
    assert seen == [("MODIFIED", "failed")]
    informer.apply_event("DELETED", body("12", "completed"))  # stale delete: ignored
    assert "t" in informer.store
    informer.apply_event("DELETED", body("14", "failed"))
    assert "t" not in informer.store


def test_the_list_path_never_steps_back() -> None:
    informer = Informer(api=None, resource=LEASES, namespace="x")
    informer.put(body("20", "completed"))
    informer.apply_list([body("19", "running")], "19")  # a relist older than our write
    assert informer.store["t"]["status"]["status"] == "completed"
    informer.apply_list([], "19")  # missing from an older snapshot: created after it
    assert "t" in informer.store
    informer.apply_list([], "21")  # missing from a newer one: gone
    assert "t" not in informer.store


def named(name: str, rv: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "resourceVersion": rv}}


def test_a_sweep_drops_only_what_the_list_should_have_shown() -> None:
    seen: list[tuple[str, str]] = []
    store = Store(on_change=lambda kind, new, old: seen.append((kind, new["metadata"]["name"])))
    for name, rv in [("kept", "5"), ("ghost", "6"), ("after-the-list", "12")]:
        store.apply_event("ADDED", named(name, rv))
    seen.clear()
    # a list at revision 10 shows "kept" only: "ghost" (held at 6) was deleted in a
    # gap; "after-the-list" (held at 12) was created after the list was taken
    assert store.sweep({"kept"}, "10") == ["ghost"]
    assert set(store.store) == {"kept", "after-the-list"}
    assert seen == [("DELETED", "ghost")]
    assert store.sweep({"kept"}, "10") == []


def test_the_collector_is_paused_while_a_list_fills_the_store_and_restored() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # it was off: it stays off
    finally:
        gc.enable()


def test_a_page_older_than_a_deletion_seen_meanwhile_does_not_bring_it_back() -> None:
    store = Store()
    store.apply_page([body("5", "pending")])
    store.tombstones = {}  # a list runs beside a watch
    store.apply_event("DELETED", body("8", "pending"))
    assert store.tombstones == {"t": 8}

    store.apply_page([body("7", "completed")])  # the list's snapshot is older
    assert "t" not in store.store
    store.apply_page([body("9", "pending")])  # made again with that name: newer
    assert store.store["t"]["metadata"]["resourceVersion"] == "9"

    store.tombstones = None  # the list ended: no memory of deletions is kept
    store.apply_event("DELETED", body("10", "pending"))
    assert store.tombstones is None and "t" not in store.store
