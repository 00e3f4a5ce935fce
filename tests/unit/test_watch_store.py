"""The informer store never lets an older version replace a newer one."""

from __future__ import annotations

from typing import Any

from web4ai.k8s.watching import LEASES, Informer, newer


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
