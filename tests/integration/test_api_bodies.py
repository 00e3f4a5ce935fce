"""Request bodies the API refuses, through a real HTTP client against the real control
plane: a wrong field, what is not JSON, what Kubernetes would not store (the parse
boundary) and what is over the body limit; each a 4xx in the documented envelope."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.apiclient import REGISTRATION, Http, assert_error


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "task_type"),
        ({"task_type": 7}, "task_type"),
        ({"task_type": "x", "priority": 9}, "priority"),
        ({"task_type": "x", "priority": True}, "priority"),
        ({"task_type": "x", "priority": "1"}, "priority"),
        ({"task_type": "x", "timeout": -5}, "timeout"),
        ({"task_type": "x", "requirements": {"min_cpu": 150}}, "requirements.min_cpu"),
        ({"task_type": "x", "requirements": {"capabilities": "gpu"}}, "requirements.capabilities"),
        ({"task_type": "x", "input_data": [1, 2]}, "input_data"),
        ({"task_type": "x", "task_id": "has space"}, "task_id"),
        ({"task_type": "x", "task_id": "x" * 64}, "task_id"),
        ({"task_type": "x", "callback_url": "ftp://nope"}, "callback_url"),
        ({"task_type": "x", "deadline": "tomorrow"}, "deadline"),
    ],
)
async def test_every_wrong_field_is_a_400(http: Http, payload: dict[str, Any], field: str) -> None:
    status, body = await http.post("/tasks", payload)
    assert_error(status, body, 400, "INVALID_REQUEST")
    assert field in [e["field"] for e in body["details"]["errors"]]


async def test_malformed_bodies_unknown_routes_and_methods(http: Http) -> None:
    status, body, _ = await http.call(
        "POST", "/tasks", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert_error(status, body, 400, "INVALID_JSON")
    status, body, _ = await http.call(
        "POST", "/tasks", data=b"\xff\xfe", headers={"Content-Type": "application/json"}
    )
    assert_error(status, body, 400, "INVALID_JSON")
    status, body = await http.post("/tasks", [1, 2, 3])
    assert_error(status, body, 400, "INVALID_REQUEST")
    status, body = await http.get("/does/not/exist")
    assert_error(status, body, 404, "NOT_FOUND")
    status, body = await http.delete("/tasks")
    assert_error(status, body, 405, "METHOD_NOT_ALLOWED")
    status, body = await http.post("/nodes/bad id/register", REGISTRATION)
    assert_error(status, body, 400, "INVALID_NODE_ID")
    status, body = await http.post("/nodes/x/register", {"port": 70000})
    assert_error(status, body, 400, "INVALID_REQUEST")
    fields = {e["field"] for e in body["details"]["errors"]}
    assert fields == {"host", "port"}
    status, body = await http.post("/nodes/ghost/heartbeat", {"cpu_usage": 1})
    assert_error(status, body, 404, "NODE_NOT_FOUND")
    status, body = await http.put("/nodes/ghost/status", {"status": "sleeping"})
    assert_error(status, body, 400, "INVALID_REQUEST")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("NaN", "must be a finite number"),
        ("1e999", "must be a finite number"),
        (str(2**64), "must be an integer from -9223372036854775808 to 9223372036854775807"),
        ('"a\\u0000b"', "must not contain NUL characters"),
        ("[" * 5000 + "]" * 5000, "must not nest deeper than 64 levels"),
    ],
    ids=["nan", "overflow", "int65", "nul", "deep"],
)
async def test_what_kubernetes_would_not_store_is_a_400_and_nothing_is_written(
    http: Http, value: str, message: str
) -> None:
    """Python's JSON reads these; the API server would refuse them (a 500 before the
    parse boundary). Now a 400 naming the field, and no task exists."""
    raw = b'{"task_id": "unstorable", "task_type": "x", "input_data": {"a": ' + value.encode()
    status, body, _ = await http.call(
        "POST", "/tasks", data=raw + b"}}", headers={"Content-Type": "application/json"}
    )
    assert_error(status, body, 400, "INVALID_REQUEST")
    [error] = body["details"]["errors"]
    assert error["field"].startswith("input_data.a") and error["message"] == message
    status, body = await http.get("/tasks/unstorable")
    assert_error(status, body, 404, "TASK_NOT_FOUND")


async def test_body_limit_is_413_and_configurable(http: Http) -> None:
    # over the body limit, yet every field within its own bound (unknown fields are
    # ignored; input_data itself is bounded so that a task fits one etcd object)
    big = {"task_type": "x", "input_data": {"blob": "a" * 1024}, "padding": "p" * (1024 * 1024)}
    status, body = await http.post("/tasks", big)
    assert_error(status, body, 413, "PAYLOAD_TOO_LARGE")
    assert body["details"]["max_bytes"] == 1024 * 1024
    status, _ = await http.put("/config", {"security": {"max_body_bytes": 4 * 1024 * 1024}})
    assert status == 200
    status, body = await http.post("/tasks", big)
    assert status == 200, body
    await http.put("/config", {"security": {"max_body_bytes": 1024 * 1024}})
