"""Life-cycle rules of DESIGN.md: liveness, timeouts, deadlines, retries.

Times are Unix seconds passed in by the caller (the clock is injected).
"""

from __future__ import annotations

from dataclasses import dataclass

from web4ai.core.model import TaskPhase

MISSED_HEARTBEATS = 3


def lease_expired(renew_time: float | None, heartbeat_interval: float, now: float) -> bool:
    """A node with no heartbeat for 3 x heartbeat_interval is offline."""
    if renew_time is None:
        return True
    return now - renew_time > MISSED_HEARTBEATS * heartbeat_interval


def attempt_timed_out(assigned_at: float | None, timeout: float, now: float) -> bool:
    """``timeout`` counts from assignment."""
    return assigned_at is not None and now - assigned_at > timeout


def past_deadline(deadline: float | None, now: float) -> bool:
    return deadline is not None and now > deadline


@dataclass(frozen=True)
class AttemptOutcome:
    """What a failed attempt turns the task into."""

    phase: TaskPhase
    retry_count: int
    error: str


def after_failed_attempt(
    retry_count: int, max_retries: int, error: str, *, retryable: bool = True
) -> AttemptOutcome:
    """Retry (back to pending as ``retrying``, retry_count + 1) up to ``max_retries``,
    else fail."""
    if retryable and retry_count < max_retries:
        return AttemptOutcome(TaskPhase.RETRYING, retry_count + 1, error)
    if retryable:
        error = f"{error} (after {retry_count} retries)" if retry_count else error
    return AttemptOutcome(TaskPhase.FAILED, retry_count, error)


def reliability_score(completed: int, failed: int) -> float:
    """Share of successful tasks, smoothed so that a new node starts near 1."""
    return round((completed + 4) / (completed + failed + 4), 4)
