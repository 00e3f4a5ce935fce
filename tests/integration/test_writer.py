"""The Writer on the real API server, both ways it sends: straight through the
ApiClient's session (web4ai.k8s.rawhttp) and on kept-alive connections of its own
(web4ai.k8s.keepalive), so what the generated client did for it is proven here:
answers parsed, error answers raised as the typed error of their status (404 NotFound,
409 Conflict, 422 Invalid) with the API server's Status as their body, the writes and
conflicts counted, every request seen by count_requests' recorder, and bearer tokens
taken from the configuration's own refresh hook on every request."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client

from tests.conftest import Cluster
from tests.integration.helpers import chart_identities
from web4ai.core.resources import GROUP, LEASES, TASKS, VERSION
from web4ai.k8s.client import api_client, count_requests
from web4ai.k8s.errors import Conflict, Invalid, K8sError, NotFound
from web4ai.k8s.writing import Writer


def task(name: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Web4AITask",
        "metadata": {"name": name},
        "spec": {"taskId": name, "taskType": "x", "inputData": {"n": [1, 2.5, None, "é"]}},
    }


@pytest.fixture(params=["session", "kept-alive"])
async def make_writer(
    request: pytest.FixtureRequest,
) -> AsyncIterator[Callable[[client.ApiClient, str], Writer]]:
    """A Writer of each kind (its kept-alive connections closed after the test)."""
    made: list[Writer] = []

    def make(api: client.ApiClient, namespace: str) -> Writer:
        writer = Writer(api, namespace)
        if request.param == "kept-alive":
            writer = Writer.kept_alive(api, namespace)
            assert writer.kept is not None
        made.append(writer)
        return writer

    yield make
    for writer in made:
        await writer.close()


def status_of(err: K8sError) -> dict[str, Any]:
    """The API server's Status in the error's body."""
    assert isinstance(err.body, str)
    status: dict[str, Any] = json.loads(err.body)
    assert status["kind"] == "Status"
    return status


async def test_writes_return_the_stored_object_and_count_themselves(
    api: client.ApiClient, namespace: str, make_writer: Callable[[client.ApiClient, str], Writer]
) -> None:
    writer = make_writer(api, namespace)
    created = await writer.create(TASKS, task("t1"))
    assert created["metadata"]["uid"]
    assert created["spec"]["inputData"] == {"n": [1, 2.5, None, "é"]}

    patched = await writer.patch(TASKS, "t1", {"status": {"errorMessage": "x"}}, status=True)
    assert patched["status"]["errorMessage"] == "x"
    assert patched["spec"] == created["spec"]
    # the main resource ignores status: a merge patch there changes the labels only
    labelled = await writer.patch(TASKS, "t1", {"metadata": {"labels": {"a": "b"}}})
    assert labelled["metadata"]["labels"] == {"a": "b"}
    assert labelled["status"]["errorMessage"] == "x"

    ops = [{"op": "add", "path": "/metadata/annotations", "value": {"k": "v"}}]
    assert (await writer.json_patch(TASKS, "t1", ops))["metadata"]["annotations"] == {"k": "v"}
    more = [{"op": "add", "path": "/metadata/annotations/k2", "value": "v2"}]
    await writer.json_patch_only(TASKS, "t1", more)  # its answer unread

    current = await writer.read(TASKS, "t1")
    assert current["metadata"]["annotations"] == {"k": "v", "k2": "v2"}
    current["metadata"]["labels"] = {"c": "d"}
    replaced = await writer.replace(TASKS, "t1", current)
    assert replaced["metadata"]["labels"] == {"c": "d"}
    assert (await writer.get(TASKS, "t1")) == replaced

    assert await writer.delete(TASKS, "t1", uid=created["metadata"]["uid"])
    assert await writer.get(TASKS, "t1") is None
    assert writer.writes == {TASKS.plural: 7}
    assert writer.conflicts == 0


async def test_error_answers_are_typed_and_lost_races_counted(
    api: client.ApiClient, namespace: str, make_writer: Callable[[client.ApiClient, str], Writer]
) -> None:
    writer = make_writer(api, namespace)
    first = await writer.create(TASKS, task("t1"))

    with pytest.raises(Conflict) as exists:
        await writer.create(TASKS, task("t1"))
    assert exists.value.status == 409
    assert status_of(exists.value)["reason"] == "AlreadyExists"

    with pytest.raises(NotFound) as gone:
        await writer.patch(TASKS, "nobody", {"status": {"errorMessage": "x"}}, status=True)
    assert gone.value.status == 404
    assert status_of(gone.value)["reason"] == "NotFound"
    with pytest.raises(NotFound):
        await writer.read(TASKS, "nobody")

    stale = dict(first, metadata=dict(first["metadata"]))
    await writer.patch(TASKS, "t1", {"metadata": {"labels": {"moved": "on"}}})
    with pytest.raises(Conflict):
        await writer.replace(TASKS, "t1", stale)
    guard = {"metadata": {"resourceVersion": first["metadata"]["resourceVersion"]}}
    with pytest.raises(Conflict):
        await writer.patch(TASKS, "t1", guard | {"status": {"errorMessage": "late"}}, status=True)

    with pytest.raises(Invalid) as invalid:
        await writer.create(TASKS, {**task("t2"), "spec": {"taskType": 5}})
    assert invalid.value.status == 422
    assert status_of(invalid.value)["reason"] == "Invalid"

    failed_test = [{"op": "test", "path": "/spec/taskType", "value": "other"}]
    with pytest.raises(Invalid):
        await writer.json_patch(TASKS, "t1", failed_test)

    assert not await writer.delete(TASKS, "nobody")
    assert not await writer.delete(TASKS, "t1", uid="not-its-uid")
    assert await writer.get(TASKS, "t1") is not None
    # create, create(409), patch(404), label patch, replace(409), patch(409),
    # create(422), json patch(422), delete(404), delete(409)
    assert writer.writes == {TASKS.plural: 10}
    assert writer.conflicts == 6


async def test_every_request_reaches_the_recorder(
    cluster: Cluster, namespace: str, make_writer: Callable[[client.ApiClient, str], Writer]
) -> None:
    seen: list[tuple[str, str, int | str]] = []
    api = await api_client(cluster.kubeconfig)
    writer = make_writer(api, namespace)
    try:
        count_requests(api, lambda method, url, code: seen.append((method, url, code)))
        await writer.create(TASKS, task("t1"))
        await writer.get(TASKS, "nobody")
        await writer.delete(TASKS, "t1")
        await writer.event(task("t1"), "Tested", "an event")
    finally:
        await writer.close()
        await api.close()
    base = f"{api.configuration.host}/apis/{GROUP}/{VERSION}/namespaces/{namespace}/web4aitasks"
    assert seen == [
        ("POST", base, 201),
        ("GET", f"{base}/nobody", 404),
        ("DELETE", f"{base}/t1", 200),
        ("POST", f"{api.configuration.host}/api/v1/namespaces/{namespace}/events", 201),
    ]


async def test_bearer_tokens_come_from_the_refresh_hook_on_every_request(
    cluster: Cluster,
    namespace: str,
    tmp_path: Path,
    make_writer: Callable[[client.ApiClient, str], Writer],
) -> None:
    """As in a pod (load_incluster_config's hook re-reads the token file): the hook
    runs before each request and the token it sets is the one sent."""
    identity = chart_identities(cluster.kubeconfig, namespace, tmp_path)["operator"]
    api = await api_client(identity)
    token = api.configuration.api_key["BearerToken"]
    api.configuration.api_key["BearerToken"] = "Bearer not-a-token"
    calls: list[str] = []

    def refresh(configuration: Any) -> None:
        calls.append("refresh")
        if len(calls) > 1:  # the token file was rewritten
            configuration.api_key["BearerToken"] = token

    api.configuration.refresh_api_key_hook = refresh
    writer = make_writer(api, namespace)
    try:
        lease = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": f"l-{uuid.uuid4().hex[:6]}"},
            "spec": {"holderIdentity": "a"},
        }
        with pytest.raises(K8sError) as refused:
            await writer.create(LEASES, lease)
        assert refused.value.status == 401
        created = await writer.create(LEASES, lease)
        assert created["spec"]["holderIdentity"] == "a"
        assert calls == ["refresh", "refresh"]
    finally:
        await writer.close()
        await api.close()
