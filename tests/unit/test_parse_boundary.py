"""The parse boundary on every write route that reads a body: what Python's JSON reads
and Kubernetes would refuse to store (non-finite numbers, integers outside 64 bits,
nesting deeper than DEPTH_MAX, NUL in a string or a key) answers 400 with the envelope
and the offending field's path, and nothing is written. The same body with a good value
is written, so each refusal is the boundary's doing."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.boundary import SECRET_ROUTES, VALUE_IDS, VALUES, Route, routes, routes_with_a_body
from tests.unit.apiapp import ADMIN, REGISTRATION, FakeWriter, auth
from web4ai.api.context import ApiContext
from web4ai.core import bodies, patches
from web4ai.core.ids import IdKind, identity
from web4ai.core.limits import DEPTH_MAX
from web4ai.core.resources import ORCHESTRATORS, TASKS
from web4ai.core.schemas import storable

ROUTES = routes(REGISTRATION)
# routes that write Secrets, not through the Writer: their boundary is tested on the real
# API server (tests/integration/test_api_parse_boundary.py)
SECRET_WRITERS = {r.name for r in SECRET_ROUTES}


async def world(http: Any, ctx: ApiContext) -> None:
    """The orchestrator, a registered node n-1 and a task t-1 assigned to it: every
    route's good body succeeds."""
    writer = ctx.writer
    assert isinstance(writer, FakeWriter)
    orchestrator = await writer.create(
        ORCHESTRATORS, {"metadata": {"name": bodies.ORCHESTRATOR_NAME}, "spec": {}}
    )
    ctx.state.record_orchestrator(orchestrator)
    for path, payload in (
        ("/nodes/n-1/register", REGISTRATION),
        ("/tasks", {"task_id": "t-1", "task_type": "x"}),
    ):
        async with http.post("/api/v1" + path, json=payload, headers=auth(ADMIN)) as r:
            assert r.status == 200, await r.text()
    name = identity(IdKind.TASK, "t-1").name
    task = ctx.state.tasks_by_name[name]
    bound = await writer.patch(
        TASKS, name, patches.bind_patch(task, "n-1", ctx.clock()), status=True
    )
    ctx.state.record_task(bound)


async def send(http: Any, route: Route, raw: bytes) -> tuple[int, Any]:
    headers = auth(ADMIN) | {"Content-Type": "application/json"}
    path = "/api/v1" + route.url("n-1", "t-1")
    async with http.request(route.method, path, data=raw, headers=headers) as r:
        return r.status, await r.json()


def written(ctx: ApiContext) -> tuple[Any, Any]:
    writer = ctx.writer
    assert isinstance(writer, FakeWriter)
    return copy.deepcopy(writer.objects_by_name), dict(writer.writes)


def test_the_table_covers_every_write_route_that_reads_a_body() -> None:
    assert routes_with_a_body() == {r.name for r in ROUTES} | SECRET_WRITERS


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
@pytest.mark.parametrize(("case", "value", "message"), VALUES, ids=VALUE_IDS)
async def test_what_could_not_be_stored_is_a_400_naming_the_field_and_nothing_is_written(
    http: Any, ctx: ApiContext, route: Route, case: str, value: str, message: str
) -> None:
    await world(http, ctx)
    before = written(ctx)
    status, body = await send(http, route, route.with_value(value))
    route.check_refusal(status, body, message)
    assert written(ctx) == before


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
async def test_the_same_body_with_a_good_value_is_written(
    http: Any, ctx: ApiContext, route: Route
) -> None:
    await world(http, ctx)
    before = written(ctx)
    status, body = await send(http, route, route.with_value(route.good))
    assert status == 200, body
    assert written(ctx) != before


def test_paths_name_the_value_at_any_depth() -> None:
    data = {"a": [{"b": float("nan")}, 2**64, "ok", {"c\x00": 1}], "d": "x\x00"}
    assert [(e.field, e.message) for e in storable.problems(data)] == [
        ("a[0].b", storable.NOT_FINITE),
        ("a[1]", storable.NOT_INT64),
        ("a[3]", storable.KEY_HAS_NUL),
        ("d", storable.HAS_NUL),
    ]
    deep: Any = 1
    for _ in range(DEPTH_MAX):
        deep = [deep]
    assert storable.problems({"k": deep[0]}) == []  # the body and 63 more levels
    assert [e.field for e in storable.problems({"k": deep})] == ["k" + "[0]" * (DEPTH_MAX - 1)]
    raw = b'{"a": [1, {"b": ' + b"[" * 5000 + b"]" * 5000 + b"}]}"
    assert storable.too_deep_at(raw) == ("a", 1, "b", *([0] * (DEPTH_MAX - 3)))
