"""Bounded label values of the metrics, and the log formats."""

from __future__ import annotations

import json
import logging

import pytest

from web4ai.core import observing
from web4ai.core.model import TaskPhase
from web4ai.observability.logs import JsonFormatter, TextFormatter, formatter


@pytest.mark.parametrize(
    ("method", "url", "expected"),
    [
        ("GET", "https://h/apis/web4ai.io/v1/namespaces/ns/web4aitasks", ("web4aitasks", "list")),
        (
            "GET",
            "https://h/apis/web4ai.io/v1/namespaces/ns/web4aitasks?watch=true&x=1",
            ("web4aitasks", "watch"),
        ),
        (
            "PATCH",
            "https://h/apis/web4ai.io/v1/namespaces/ns/web4aitasks/t-1/status",
            ("web4aitasks/status", "patch"),
        ),
        (
            "GET",
            "https://h/apis/coordination.k8s.io/v1/namespaces/ns/leases/web4ai-operator",
            ("leases", "get"),
        ),
        ("POST", "https://h/api/v1/namespaces/ns/events", ("events", "create")),
        ("GET", "https://h/api/v1/namespaces", ("namespaces", "list")),
        ("GET", "https://h/api/v1/namespaces/ns", ("namespaces", "get")),
        ("DELETE", "https://h/api/v1/namespaces/ns/secrets/s", ("secrets", "delete")),
        ("GET", "https://h/version", ("other", "get")),
        ("GET", "https://h:6443", ("other", "get")),
        (
            "GET",
            "https://h:6443/apis/coordination.k8s.io/v1/namespaces/ns/leases?labelSelector=a&watch=1",
            ("leases", "watch"),
        ),
        ("GET", "https://h/api/v1/namespaces/ns/secrets?watch=false", ("secrets", "list")),
        ("PATCH", "/apis/web4ai.io/v1/namespaces/ns/web4ainodes/n", ("web4ainodes", "patch")),
    ],
)
def test_request_labels(method: str, url: str, expected: tuple[str, str]) -> None:
    assert observing.request_labels(method, url) == expected


def test_pending_reason() -> None:
    assert observing.pending_reason(None) == "queued"
    cond = {"type": "Scheduled", "status": "False", "reason": "Unschedulable"}
    assert observing.pending_reason([cond]) == "unschedulable"
    assert observing.pending_reason([{**cond, "reason": "Queued"}]) == "queued"


def test_priority_label_is_bounded() -> None:
    assert [observing.priority_label(p) for p in (0, 1, 3, 5, 99, "x")] == [
        "1",
        "1",
        "3",
        "5",
        "5",
        "3",
    ]


def test_retry_reasons() -> None:
    q, run, done = TaskPhase.RETRYING, TaskPhase.RUNNING, TaskPhase.FAILED
    assert observing.retry_reason(run, q, observing.NODE_LOST_ERROR) == "node_lost"
    assert observing.retry_reason(run, q, "timed out after 5s on n1") == "timeout"
    assert observing.retry_reason(run, q, "boom") == "failed"
    assert observing.retry_reason(TaskPhase.ASSIGNED, q, "node n drained (x)") == "requeued"
    assert observing.retry_reason(done, TaskPhase.QUEUED, None) == "manual"
    assert observing.retry_reason(q, q, "boom") is None
    assert observing.retry_reason(run, TaskPhase.COMPLETED, None) is None
    for reason in ("node_lost", "timeout", "failed", "requeued", "manual"):
        assert reason in observing.RETRY_REASONS


def _record(**extra: object) -> logging.LogRecord:
    record = logging.LogRecord("web4ai.x", logging.INFO, __file__, 1, "hello %s", ("w",), None)
    for k, v in extra.items():
        setattr(record, k, v)
    return record


def test_json_lines_carry_ids() -> None:
    doc = json.loads(JsonFormatter().format(_record(task_id="t1", node_id="n1")))
    assert doc["message"] == "hello w"
    assert (doc["task_id"], doc["node_id"], doc["level"]) == ("t1", "n1", "info")
    assert "task_id" not in json.loads(JsonFormatter().format(_record()))


def test_text_lines_append_ids() -> None:
    assert TextFormatter().format(_record(node_id="n1")).endswith("hello w node_id=n1")


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError):
        formatter("xml")
