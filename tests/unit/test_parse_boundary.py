"""The parse boundary on every write route that reads a body: what Python's JSON reads
and Kubernetes would refuse to store (non-finite numbers, integers outside 64 bits,
nesting deeper than DEPTH_MAX, NUL in a string or a key) answers 400 with the envelope
and the offending field's path, and nothing is written. The same body with a good value
is written, so each refusal is the boundary's doing."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from aiohttp import web

from tests.unit.apiapp import ADMIN, REGISTRATION, FakeWriter, assert_error, auth
from web4ai.api.app import route_tables
from web4ai.api.context import ApiContext
from web4ai.api.routing import spec_of
from web4ai.core import bodies, patches
from web4ai.core.ids import IdKind, identity
from web4ai.core.limits import DEPTH_MAX
from web4ai.core.resources import ORCHESTRATORS, TASKS
from web4ai.core.schemas import storable

BAD = "__BAD__"
FREE = "1"  # in a free-form field, under a key x


class Route:
    def __init__(
        self, name: str, method: str, path: str, body: dict[str, Any], root: str, good: str
    ) -> None:
        self.name, self.method, self.path, self.body = name, method, path, body
        self.root = root  # where the bad value goes, as the error names it
        self.good = good  # a value the field takes (JSON text): the control
        self.free = good == FREE  # a free-form field (any JSON below it) or a typed one
        self.code = "INVALID_CONFIG" if name == "config_put" else "INVALID_REQUEST"

    def with_value(self, value_json: str) -> bytes:
        """The good body with the value at ``root`` (under a key ``x`` when free-form)."""
        doc = copy.deepcopy(self.body)
        *parents, leaf = self.root.split(".")
        target = doc
        for key in parents:
            target = target.setdefault(key, {})
        target[leaf] = {"x": BAD} if self.free else BAD
        return json.dumps(doc).replace(json.dumps(BAD), value_json).encode()


SUBMIT = {"task_id": "t-2", "task_type": "x"}
CONFIG = {"network": {"max_nodes": 50}}
STATUS = {"status": "maintenance"}
ROUTES = [
    Route("register", "POST", "/nodes/n-1/register", REGISTRATION, "metadata", FREE),
    Route("heartbeat", "POST", "/nodes/n-1/heartbeat", {"cpu_usage": 3}, "agents_status", FREE),
    Route("node_status", "PUT", "/nodes/n-1/status", STATUS, "status", '"maintenance"'),
    Route("node_drain", "POST", "/nodes/n-1/drain", {"deadline": 5}, "deadline", "5"),
    Route("tasks_submit", "POST", "/tasks", SUBMIT, "input_data", FREE),
    Route("task_start", "POST", "/tasks/t-1/start", {"node_id": "n-1"}, "agent_id", '"agent-1"'),
    Route(
        "task_result",
        "POST",
        "/tasks/t-1/result",
        {"node_id": "n-1", "status": "completed"},
        "performance_metrics",
        FREE,
    ),
    Route(
        "task_progress",
        "POST",
        "/tasks/t-1/progress",
        {"node_id": "n-1", "percent": 5},
        "message",
        '"5 of 100 records"',
    ),
    Route(
        "config_put", "PUT", "/config", {"network": {"max_nodes": 50}}, "network.max_nodes", "50"
    ),
]
# routes that write Secrets, not through the Writer: their boundary is tested on the real
# API server (tests/integration/test_keys_api.py and test_join_tokens.py)
SECRET_WRITERS = {"keys_create", "join_tokens_create", "join"}

# (name, JSON text, the boundary's message where the field is free-form)
VALUES = [
    ("nan", "NaN", storable.NOT_FINITE),
    ("minus_infinity", "-Infinity", storable.NOT_FINITE),
    ("overflowing_double", "1e999", storable.NOT_FINITE),
    ("int_above_64_bits", str(2**63), storable.NOT_INT64),
    ("int_below_64_bits", str(-(2**63) - 1), storable.NOT_INT64),
    ("nul_in_string", json.dumps("a\x00b"), storable.HAS_NUL),
    ("nul_in_key", json.dumps({"a\x00b": 1}), storable.KEY_HAS_NUL),
    ("nested_past_the_bound", "[" * (DEPTH_MAX + 1) + "]" * (DEPTH_MAX + 1), storable.TOO_DEEP),
    ("nested_past_the_parser", "[" * 5000 + "]" * 5000, storable.TOO_DEEP),
]


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
    async with http.request(route.method, "/api/v1" + route.path, data=raw, headers=headers) as r:
        return r.status, await r.json()


def written(ctx: ApiContext) -> tuple[Any, Any]:
    writer = ctx.writer
    assert isinstance(writer, FakeWriter)
    return copy.deepcopy(writer.objects_by_name), dict(writer.writes)


def test_the_table_covers_every_write_route_that_reads_a_body() -> None:
    app = web.Application()
    for table in route_tables():
        app.add_routes(table)
    with_body = {
        r.name
        for r in app.router.routes()
        if r.method in ("POST", "PUT", "PATCH") and spec_of(r.handler).body is not None
    }
    assert with_body == {r.name for r in ROUTES} | SECRET_WRITERS


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
@pytest.mark.parametrize(("case", "value", "message"), VALUES, ids=[v[0] for v in VALUES])
async def test_what_could_not_be_stored_is_a_400_naming_the_field_and_nothing_is_written(
    http: Any, ctx: ApiContext, route: Route, case: str, value: str, message: str
) -> None:
    await world(http, ctx)
    before = written(ctx)
    status, body = await send(http, route, route.with_value(value))
    assert_error(status, body, 400, route.code)
    fields = {e["field"]: e["message"] for e in body["details"]["errors"]}
    assert any(f.startswith(route.root) for f in fields), fields
    if route.free:
        at = f"{route.root}.x"
        assert any(f.startswith(at) and m == message for f, m in fields.items()), fields
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
