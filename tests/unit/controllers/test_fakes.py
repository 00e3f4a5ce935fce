"""The fakes behave as the API server and the Writer do where the controllers rely on it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.controllers.fakes import FakeCluster, merge
from web4ai.core import bodies, patches
from web4ai.core.resources import NODES, TASKS
from web4ai.k8s.errors import Conflict, Invalid, NotFound


@pytest.mark.parametrize(
    ("target", "patch", "merged"),
    [
        (
            {"a": 1, "b": {"c": 2, "d": 3}},
            {"b": {"c": None, "e": 4}},
            {"a": 1, "b": {"d": 3, "e": 4}},
        ),
        ({"a": [1, 2]}, {"a": [3]}, {"a": [3]}),
        ({"a": {"b": 1}}, {"a": 5}, {"a": 5}),
        ({}, {"a": None}, {}),
    ],
    ids=["objects merge, null deletes", "lists replace", "a scalar replaces", "nothing to delete"],
)
def test_json_merge_patch(target: dict[str, Any], patch: dict[str, Any], merged: Any) -> None:
    assert merge(target, patch) == merged


async def test_a_guarded_patch_of_a_stale_version_raises_a_conflict() -> None:
    cluster = FakeCluster()
    body = cluster.add_task("t")
    cluster.set_status(TASKS, bodies.name_of(body), phase="queued")  # a newer version
    with pytest.raises(Conflict):
        await cluster.writer.patch(
            TASKS,
            bodies.name_of(body),
            patches.guarded(body, {"status": {"phase": "assigned"}}),
            status=True,
        )
    assert cluster.writer.conflicts == 1
    assert [c.outcome for c in cluster.writer.calls] == [409]
    assert cluster.task_status("t") == {"phase": "queued"}


async def test_the_status_subresource_and_the_main_resource_change_only_their_part() -> None:
    cluster = FakeCluster()
    name = bodies.name_of(cluster.add_task("t"))
    await cluster.writer.patch(
        TASKS, name, {"spec": {"priority": 1}, "status": {"x": 1}}, status=True
    )
    await cluster.writer.patch(TASKS, name, {"spec": {"priority": 2}, "status": {"y": 1}})
    task = cluster.task("t")
    assert task is not None
    assert (task["spec"]["priority"], task["status"]) == (2, {"x": 1})


async def test_deletion_waits_for_finalizers_and_checks_the_uid() -> None:
    cluster = FakeCluster()
    node = cluster.add_node("n")
    name = bodies.name_of(node)
    assert not await cluster.writer.delete(NODES, name, uid="another-uid")
    assert await cluster.writer.delete(NODES, name, uid=node["metadata"]["uid"])
    held = cluster.node("n")
    assert held is not None and held["metadata"]["deletionTimestamp"]
    current = cluster.server.get(NODES, name)
    await cluster.writer.patch(
        NODES, name, patches.guarded(current, {"metadata": {"finalizers": []}})
    )
    assert cluster.node("n") is None
    assert not await cluster.writer.delete(NODES, name)  # 404: False, as the Writer's


async def test_typed_errors_and_injected_failures() -> None:
    cluster = FakeCluster()
    body = cluster.add_task("t")
    with pytest.raises(NotFound):
        await cluster.writer.read(TASKS, "missing")
    assert await cluster.writer.get(TASKS, "missing") is None
    with pytest.raises(Conflict):
        await cluster.writer.create(TASKS, body)
    cluster.writer.fail("patch_status", bodies.name_of(body), Invalid(422, "Invalid"))
    with pytest.raises(Invalid):  # every error is raised, typed
        await cluster.writer.patch(TASKS, bodies.name_of(body), {"status": {}}, status=True)
    assert await cluster.writer.patch(TASKS, bodies.name_of(body), {"status": {}}, status=True)


async def test_the_watch_cache_follows_the_server_with_hooks_and_never_steps_back() -> None:
    cluster = FakeCluster()
    seen: list[tuple[str | None, str]] = []
    cluster.state.on_task_change.append(
        lambda new, old: seen.append(
            (None if old is None else bodies.resource_version(old), bodies.resource_version(new))
        )
    )
    body = cluster.add_task("t")
    cluster.sync()
    written = await cluster.writer.patch(
        TASKS, bodies.name_of(body), {"status": {"phase": "queued"}}, status=True
    )
    assert written is not None
    cluster.state.record_task(written)  # our own write, recorded first
    cluster.sync()  # the watch's copy of it changes nothing
    v1, v2 = body["metadata"]["resourceVersion"], written["metadata"]["resourceVersion"]
    assert seen == [(None, v1), (v1, v2)]  # added, then our write; the watch adds nothing
    assert cluster.state.tasks.store[bodies.name_of(body)]["status"] == {"phase": "queued"}
