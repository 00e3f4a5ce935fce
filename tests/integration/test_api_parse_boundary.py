"""The parse boundary on the real API server, on every write route that reads a body:
what Python's JSON reads and Kubernetes would refuse to store (non-finite numbers,
integers outside 64 bits, nesting deeper than DEPTH_MAX, NUL in a string or a key)
answers 400 with the envelope and the offending field's path, and nothing is written:
no custom resource, Lease or Secret of the namespace changes. The same body with a good
value is written, so each refusal is the boundary's doing.

The API runs alone here (no operator), so that nothing else writes in the namespace; a
task is bound to its node by a status patch, as the scheduler would bind it."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest
from kubernetes_asyncio import client

from tests.boundary import SECRET_ROUTES, VALUE_IDS, VALUES, Route, routes, routes_with_a_body
from tests.conftest import ADMIN_KEY, Cluster
from tests.integration.apiclient import REGISTRATION, Http
from tests.integration.helpers import ApiProcess, chart_identities, eventually
from web4ai.core import patches
from web4ai.core.crs import TaskBody
from web4ai.core.ids import IdKind, identity
from web4ai.core.resources import NODES, ORCHESTRATORS, TASKS
from web4ai.k8s.writing import Writer

ROUTES = routes(REGISTRATION) + SECRET_ROUTES


@dataclass
class World:
    """A node, a task bound to it and a join token, made for one route."""

    node: str
    task: str
    token: str


@dataclass
class Alone:
    """The API server alone on a namespace of its own."""

    namespace: str
    http: Http
    writer: Writer
    api: client.ApiClient
    worlds: dict[str, World] = field(default_factory=dict)
    ids: itertools.count[int] = field(default_factory=itertools.count)

    async def world(self) -> World:
        n = next(self.ids)
        made = World(f"pb-node-{n}", f"pb-task-{n}", "")
        status, body = await self.http.post(f"/nodes/{made.node}/register", REGISTRATION)
        assert status == 200, body
        status, body = await self.http.post("/tasks", {"task_id": made.task, "task_type": "x"})
        assert status == 200, body
        name = identity(IdKind.TASK, made.task).name
        task = cast(TaskBody, await self.writer.read(TASKS, name))
        bound = patches.bind_patch(task, made.node, time.time())
        await self.writer.patch(TASKS, name, bound, status=True)

        async def seen_bound() -> bool:
            status, body = await self.http.get(f"/tasks/{made.task}")
            return status == 200 and body["task"]["node_id"] == made.node

        await eventually(seen_bound)
        status, body = await self.http.post("/join-tokens", {"uses": 5})
        assert status == 200, body
        made.token = body["token"]
        return made

    async def world_for(self, route: Route) -> World:
        if route.name not in self.worlds:
            self.worlds[route.name] = await self.world()
        return self.worlds[route.name]

    async def send(self, route: Route, world: World, raw: bytes) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if route.name == "join":
            headers["Authorization"] = f"Bearer {world.token}"
        status, body, _ = await self.http.call(
            route.method, route.url(world.node, world.task), data=raw, headers=headers
        )
        return status, body

    async def stored(self) -> dict[str, str]:
        """Every custom resource, Lease and Secret of the namespace, by its version."""
        ns = self.namespace
        out: dict[str, str] = {}
        objects = client.CustomObjectsApi(self.api)
        for resource in (NODES, TASKS, ORCHESTRATORS):
            listed = await objects.list_namespaced_custom_object(
                resource.group, resource.version, ns, resource.plural
            )
            for item in listed["items"]:
                meta = item["metadata"]
                out[f"{resource.plural}/{meta['name']}"] = meta["resourceVersion"]
        leases = await client.CoordinationV1Api(self.api).list_namespaced_lease(ns)
        secrets = await client.CoreV1Api(self.api).list_namespaced_secret(ns)
        for kind, items in (("leases", leases.items), ("secrets", secrets.items)):
            for obj in items:
                out[f"{kind}/{obj.metadata.name}"] = obj.metadata.resource_version
        return out


@pytest.fixture(scope="module")
async def alone(
    cluster: Cluster, api: client.ApiClient, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Alone]:
    ns = f"m-{uuid.uuid4().hex[:10]}"
    core = client.CoreV1Api(api)
    await core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    logs: Path = tmp_path_factory.mktemp("alone")
    identities = chart_identities(cluster.kubeconfig, ns, logs)
    server = ApiProcess(identities["api"], ns, logs / "api.log", ADMIN_KEY)
    try:
        await server.wait_ready()
        http = Http(server.base, {"Authorization": f"Bearer {ADMIN_KEY}"})
        yield Alone(ns, http, Writer(api, ns), api)
    finally:
        server.stop()
        print((logs / "api.log").read_text()[-4000:])
        await core.delete_namespace(ns)


def test_the_table_covers_every_write_route_that_reads_a_body() -> None:
    assert routes_with_a_body() == {r.name for r in ROUTES}


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
@pytest.mark.parametrize(("case", "value", "message"), VALUES, ids=VALUE_IDS)
async def test_what_could_not_be_stored_is_a_400_naming_the_field_and_nothing_is_written(
    alone: Alone, route: Route, case: str, value: str, message: str
) -> None:
    world = await alone.world_for(route)
    before = await alone.stored()
    status, body = await alone.send(route, world, route.with_value(value, world.node, world.task))
    route.check_refusal(status, body, message)
    assert await alone.stored() == before


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
async def test_the_same_body_with_a_good_value_is_written(alone: Alone, route: Route) -> None:
    world = await alone.world()
    before = await alone.stored()
    raw = route.with_value(route.good, world.node, world.task)
    status, body = await alone.send(route, world, raw)
    assert status == 200, body
    assert await alone.stored() != before
