"""The operator's task feed lists the unfinished tasks first (``ListWatch.first``), on
the real API server with the shipped CRD (``selectableFields: .status.status``): with
100,000 finished tasks kept, the passes start on the few that can still run instead of
after the whole list. Where the server cannot select by the field, the feed falls
back to the whole list, as before."""

from __future__ import annotations

from kubernetes_asyncio import client

from tests.integration.helpers import add_task, finish
from web4ai.core.ids import IdKind, identity
from web4ai.core.model import UNFINISHED_TASKS
from web4ai.core.resources import TASKS
from web4ai.k8s.listwatch import ListWatch
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

    await feed.prime()

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

    await feed.prime()

    assert store.store == {} and not store.primed.is_set()

    await feed.list()

    assert set(store.store) == unfinished | finished
    assert store.primed.is_set() and store.synced.is_set()
