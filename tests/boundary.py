"""The parse boundary's table, shared by its unit tests (tests/unit/test_parse_boundary.py,
the API app with a fake writer) and its integration tests
(tests/integration/test_api_parse_boundary.py, the real API server): every write route
that reads a body, where a bad value goes in its body, and the values Python's JSON
reads and Kubernetes would refuse to store."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from web4ai.api.app import route_tables
from web4ai.api.routing import spec_of
from web4ai.core.limits import DEPTH_MAX
from web4ai.core.schemas import storable

BAD = "__BAD__"
FREE = "1"  # in a free-form field, under a key x


class Route:
    """A write route with a good body; ``{node}`` and ``{task}`` in its path and body
    are the ids of the node and the task it acts on."""

    def __init__(
        self, name: str, method: str, path: str, body: dict[str, Any], root: str, good: str
    ) -> None:
        self.name, self.method, self.path, self.body = name, method, path, body
        self.root = root  # where the bad value goes, as the error names it
        self.good = good  # a value the field takes (JSON text): the control
        self.free = good == FREE  # a free-form field (any JSON below it) or a typed one
        self.code = "INVALID_CONFIG" if name == "config_put" else "INVALID_REQUEST"

    def url(self, node: str, task: str) -> str:
        return self.path.format(node=node, task=task)

    def with_value(self, value_json: str, node: str = "n-1", task: str = "t-1") -> bytes:
        """The good body with the value at ``root`` (under a key ``x`` when free-form)."""
        doc = json.loads(json.dumps(self.body).replace("{node}", node).replace("{task}", task))
        *parents, leaf = self.root.split(".")
        target = doc
        for key in parents:
            target = target.setdefault(key, {})
        target[leaf] = {"x": BAD} if self.free else BAD
        return json.dumps(doc).replace(json.dumps(BAD), value_json).encode()

    def check_refusal(self, status: int, body: Any, message: str) -> None:
        """A 400 in the envelope, with an error on the field the bad value is in (and
        the boundary's ``message`` under a free-form field)."""
        assert status == 400, body
        assert body["success"] is False and isinstance(body["error"], str) and body["error"]
        assert isinstance(body["timestamp"], str)
        assert body["details"]["code"] == self.code, body
        fields = {e["field"]: e["message"] for e in body["details"]["errors"]}
        assert any(f.startswith(self.root) for f in fields), fields
        if self.free:
            at = f"{self.root}.x"
            assert any(f.startswith(at) and m == message for f, m in fields.items()), fields


def routes(registration: dict[str, Any]) -> list[Route]:
    """The routes that write custom resources (through the Writer)."""
    return [
        Route("register", "POST", "/nodes/{node}/register", registration, "metadata", FREE),
        Route(
            "heartbeat", "POST", "/nodes/{node}/heartbeat", {"cpu_usage": 3}, "agents_status", FREE
        ),
        Route(
            "node_status",
            "PUT",
            "/nodes/{node}/status",
            {"status": "maintenance"},
            "status",
            '"maintenance"',
        ),
        Route("node_drain", "POST", "/nodes/{node}/drain", {"deadline": 5}, "deadline", "5"),
        Route(
            "tasks_submit",
            "POST",
            "/tasks",
            {"task_id": "{task}-new", "task_type": "x"},
            "input_data",
            FREE,
        ),
        Route(
            "task_start",
            "POST",
            "/tasks/{task}/start",
            {"node_id": "{node}"},
            "agent_id",
            '"agent-1"',
        ),
        Route(
            "task_result",
            "POST",
            "/tasks/{task}/result",
            {"node_id": "{node}", "status": "completed"},
            "performance_metrics",
            FREE,
        ),
        Route(
            "task_progress",
            "POST",
            "/tasks/{task}/progress",
            {"node_id": "{node}", "percent": 5},
            "message",
            '"5 of 100 records"',
        ),
        Route(
            "config_put",
            "PUT",
            "/config",
            {"network": {"max_nodes": 50}},
            "network.max_nodes",
            "50",
        ),
    ]


# the routes that write Secrets (keys, join tokens) and, for a join, a node too
SECRET_ROUTES = [
    Route(
        "keys_create",
        "POST",
        "/keys",
        {"role": "node", "node_id": "{node}"},
        "description",
        '"a key"',
    ),
    Route("join_tokens_create", "POST", "/join-tokens", {"uses": 1}, "description", '"a token"'),
    Route(
        "join", "POST", "/join", {"host": "127.0.0.1", "node_id": "{node}-joined"}, "metadata", FREE
    ),
]

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
VALUE_IDS = [v[0] for v in VALUES]


def routes_with_a_body() -> set[str]:
    """The names of the API's write routes that declare a request body."""
    app = web.Application()
    for table in route_tables():
        app.add_routes(table)
    return {
        str(r.name)
        for r in app.router.routes()
        if r.method in ("POST", "PUT", "PATCH", "DELETE") and spec_of(r.handler).body is not None
    }
