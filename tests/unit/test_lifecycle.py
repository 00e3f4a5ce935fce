"""Liveness, timeouts, deadlines and retries with an injected clock."""

from __future__ import annotations

from web4ai.core.lifecycle import (
    after_failed_attempt,
    attempt_timed_out,
    lease_expired,
    past_deadline,
    reliability_score,
)
from web4ai.core.model import (
    NodeStatus,
    TaskPhase,
    TaskStatus,
    default_capacity,
    effective_node_status,
)


def test_lease_expires_after_three_missed_heartbeats() -> None:
    assert not lease_expired(100.0, 30, now=190.0)
    assert lease_expired(100.0, 30, now=190.5)
    assert lease_expired(None, 30, now=0.0)


def test_timeout_counts_from_assignment() -> None:
    assert not attempt_timed_out(None, 10, now=1e9)  # never assigned: no timeout
    assert not attempt_timed_out(100.0, 10, now=110.0)
    assert attempt_timed_out(100.0, 10, now=110.1)


def test_deadline_is_absolute() -> None:
    assert not past_deadline(None, 1e12)
    assert not past_deadline(500.0, 500.0)
    assert past_deadline(500.0, 500.1)


def test_retries_then_failure_with_last_error() -> None:
    o = after_failed_attempt(0, 2, "boom")
    assert (o.phase, o.retry_count, o.error) == (TaskPhase.RETRYING, 1, "boom")
    o = after_failed_attempt(1, 2, "boom")
    assert (o.phase, o.retry_count) == (TaskPhase.RETRYING, 2)
    o = after_failed_attempt(2, 2, "last error")
    assert (o.phase, o.retry_count, o.error) == (
        TaskPhase.FAILED,
        2,
        "last error (after 2 retries)",
    )
    o = after_failed_attempt(0, 0, "no retries")
    assert (o.phase, o.error) == (TaskPhase.FAILED, "no retries")


def test_non_retryable_failure_fails_at_once() -> None:
    o = after_failed_attempt(0, 5, "deadline passed", retryable=False)
    assert (o.phase, o.retry_count, o.error) == (TaskPhase.FAILED, 0, "deadline passed")


def test_reliability_score() -> None:
    assert reliability_score(0, 0) == 1.0
    assert reliability_score(96, 0) == 1.0
    assert reliability_score(0, 4) == 0.5
    assert 0.9 < reliability_score(90, 5) < 0.96


def test_capacity_defaults() -> None:
    assert default_capacity(3, None) == 3
    assert default_capacity(0, None) == 1
    assert default_capacity(3, 8) == 8
    assert default_capacity(3, 0) == 1


def test_phases_map_onto_the_seed_statuses() -> None:
    assert {p.value: p.status.value for p in TaskPhase} == {
        "queued": "pending",
        "retrying": "pending",
        "assigned": "active",
        "running": "active",
        "completed": "completed",
        "failed": "failed",
        "cancelled": "failed",
    }
    assert {s.value for s in TaskStatus} == {"pending", "active", "completed", "failed"}


def test_terminal_and_bound() -> None:
    assert TaskStatus.COMPLETED.terminal and TaskPhase.FAILED.terminal
    assert TaskPhase.CANCELLED.terminal and not TaskPhase.RETRYING.terminal
    assert TaskPhase.ASSIGNED.bound and TaskPhase.RUNNING.bound
    assert not TaskPhase.RETRYING.bound and not TaskPhase.CANCELLED.bound
    assert TaskPhase.QUEUED.waiting and TaskPhase.RETRYING.waiting


def test_admin_intent_holds_over_the_report_and_liveness() -> None:
    m, a, o, d = NodeStatus.MAINTENANCE, NodeStatus.ACTIVE, NodeStatus.OFFLINE, NodeStatus.DEGRADED
    assert effective_node_status(m, a, True) is m
    assert effective_node_status(m, a, False) is m
    assert effective_node_status(o, a, True) is o
    assert effective_node_status(None, d, True) is d
    assert effective_node_status(None, a, False) is o
    assert effective_node_status(None, None, True) is a


def test_callback_urls() -> None:
    from web4ai.core.egress import url_form_problem as url_problem

    assert url_problem("http://127.0.0.1:8080/hook") is None  # form only; see test_egress
    assert url_problem("https://myapp.com/webhook/task_complete") is None
    assert url_problem("ftp://x/y") == "must be an http or https URL"
    assert url_problem("http:///nohost") == "must name a host"
    assert url_problem("http://metadata.google.internal/x") is not None
    assert url_problem(17) == "must be a non-empty string"
