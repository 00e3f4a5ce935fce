"""The operator's task feed lists the unfinished tasks first (``ListWatch.first``), on
the real API server with the shipped CRD (``selectableFields: .status.status``): with
100,000 finished tasks kept, the passes start on the few that can still run instead of
after the whole list. Where the server cannot select by the field, the feed falls
back to the whole list, as before."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from tests.integration.helpers import add_task, eventually, finish
from web4ai.core.ids import IdKind, identity
from web4ai.core.model import UNFINISHED_TASKS
from web4ai.core.resources import TASKS
from web4ai.k8s.listwatch import Gone, ListWatch
from web4ai.k8s.store import Store


def name(task_id: str) -> str:
    return identity(IdKind.TASK, task_id).name


async def some_finished(api: client.ApiClient, ns: str) -> tuple[set[str], set[str]]:
    """Tasks of every status (new without one, pending, active, completed, failed), the
    finished ones with a status and their names: (unfinished, finished)."""
    for task_id in ("new", "waiting", "running", "done", "broken"):
        await add_task(api, ns, task_id)
    await finish(api, ns, "waiting", "pending")
    await finish(api, ns, "running", "active")
    await finish(api, ns, "done", "completed")
    await finish(api, ns, "broken", "failed")
    return {name("new"), name("waiting"), name("running")}, {name("done"), name("broken")}


async def test_the_unfinished_tasks_are_listed_first_then_all(
    api: client.ApiClient, namespace: str
) -> None:
    unfinished, finished = await some_finished(api, namespace)
    store = Store()
    feed = ListWatch(api, TASKS, namespace, store, first=UNFINISHED_TASKS, page_size=1)

    assert await feed.prime() is not None

    assert set(store.store) == unfinished  # every page of the selection, none finished
    assert store.primed.is_set() and not store.synced.is_set()

    await feed.list()

    assert set(store.store) == unfinished | finished
    assert store.primed.is_set() and store.synced.is_set()


async def test_a_task_deleted_between_the_first_list_and_the_whole_one_is_dropped(
    api: client.ApiClient, namespace: str
) -> None:
    unfinished, finished = await some_finished(api, namespace)
    store = Store()
    feed = ListWatch(api, TASKS, namespace, store, first=UNFINISHED_TASKS)
    await feed.prime()
    await client.CustomObjectsApi(api).delete_namespaced_custom_object(
        TASKS.group, TASKS.version, namespace, TASKS.plural, name("waiting")
    )

    await feed.list()

    assert set(store.store) == (unfinished - {name("waiting")}) | finished


async def test_without_a_selectable_field_the_feed_waits_for_the_whole_list(
    api: client.ApiClient, namespace: str
) -> None:
    unfinished, finished = await some_finished(api, namespace)
    store = Store()
    # spec.taskType is not among the CRD's selectableFields: the server answers 400
    feed = ListWatch(api, TASKS, namespace, store, first="spec.taskType!=test_task")

    assert await feed.prime() is None

    assert store.store == {} and not store.primed.is_set()

    await feed.list()

    assert set(store.store) == unfinished | finished
    assert store.primed.is_set() and store.synced.is_set()


class Paused(ListWatch):
    """A feed whose whole list waits before its second page until ``go`` is set: the
    list's snapshot is taken (its first page) and the rest comes later, as in a list of
    100,000 tasks."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pages = 0
        self.go = asyncio.Event()

    async def request(self, **kwargs: Any) -> Any:
        if not kwargs.get("watch") and "field_selector" not in kwargs:
            self.pages += 1
            if self.pages == 2:
                await self.go.wait()
        return await super().request(**kwargs)


async def test_what_changes_during_the_whole_list_is_seen_at_once(
    api: client.ApiClient, namespace: str
) -> None:
    """A watch from the first list's version runs beside the whole list: a task made
    while it runs is held at once, and one deleted after the list's snapshot is not
    brought back by a later page of that snapshot."""
    unfinished, finished = await some_finished(api, namespace)
    store = Store()
    feed = Paused(api, TASKS, namespace, store, first=UNFINISHED_TASKS, page_size=1)
    since = await feed.prime()
    assert since is not None
    feeding = asyncio.create_task(feed.list_watching(since))
    try:
        await eventually(lambda: _true(feed.pages == 2))  # the snapshot is taken
        doomed = max(unfinished | finished)  # on a page still to come
        await client.CustomObjectsApi(api).delete_namespaced_custom_object(
            TASKS.group, TASKS.version, namespace, TASKS.plural, doomed
        )
        late = await add_task(api, namespace, "late")
        await eventually(lambda: _true(late in store.store and doomed not in store.store))
        assert not store.synced.is_set()

        feed.go.set()
        await eventually(lambda: _true(store.synced.is_set()))

        assert set(store.store) == (unfinished | finished | {late}) - {doomed}
        assert store.tombstones is None
    finally:
        feeding.cancel()
        await asyncio.gather(feeding, return_exceptions=True)


async def _true(value: bool) -> bool:
    return value


async def test_a_watch_that_fails_beside_the_list_is_raised_once_the_list_ends(
    api: client.ApiClient, namespace: str
) -> None:
    """The watch beside the list starts from a version the server no longer has (410):
    the list still fills the store whole, and the failure comes after it, so that the
    feed lists again (``ListWatch.run``) instead of watching on from a gap."""
    unfinished, finished = await some_finished(api, namespace)
    store = Store()
    feed = ListWatch(api, TASKS, namespace, store, first=UNFINISHED_TASKS)

    with pytest.raises((Gone, ApiException)) as failed:
        await feed.list_watching("1")

    error = failed.value
    assert isinstance(error, Gone) or (isinstance(error, ApiException) and error.status == 410)
    assert set(store.store) == unfinished | finished and store.synced.is_set()
    assert store.tombstones is None
