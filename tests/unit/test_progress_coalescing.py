"""Progress reports coalesced (web4ai.core.progress): at most one write per task every
interval, with the last report of the interval."""

from __future__ import annotations

import itertools
from typing import Any

from web4ai.core.patches import progress_patch
from web4ai.core.progress import Coalescer, Report


def r(percent: float, at: float, message: str | None = None) -> Report:
    return Report(percent, message, at)


def test_the_first_report_is_written_at_once_then_at_most_once_per_interval() -> None:
    c = Coalescer(interval=2.0)
    assert c.offer("t", r(1, 0.0), 0.0) == 0.0
    assert c.take("t", 0.0) == r(1, 0.0)
    # the next reports within the interval: one write, 2 s after the last, last wins
    assert c.offer("t", r(2, 0.5), 0.5) == 1.5
    assert c.offer("t", r(3, 0.7), 0.7) is None
    assert c.offer("t", r(4, 1.9, "almost"), 1.9) is None
    assert c.take("t", 2.0) == r(4, 1.9, "almost")
    # after a quiet spell: at once again
    assert c.offer("t", r(5, 10.0), 10.0) == 0.0


def test_fifty_reports_a_second_cost_one_write_per_interval() -> None:
    c = Coalescer(interval=2.0)
    writes: list[float] = []
    due: float | None = None
    for i in range(500):  # 10 s at 50 reports a second
        now = i * 0.02
        if due is not None and now >= due:
            assert c.take("t", now) is not None
            writes.append(now)
            due = None
        delay = c.offer("t", r(i / 5, now), now)
        if delay is not None:
            assert due is None
            due = now + delay
    assert 5 <= len(writes) <= 6
    assert all(b - a >= 2.0 - 1e-9 for a, b in itertools.pairwise(writes))


def test_tasks_are_independent_and_forget_drops_what_is_pending() -> None:
    c = Coalescer(interval=2.0)
    assert c.offer("a", r(1, 0), 0) == 0.0
    assert c.offer("b", r(1, 0), 0) == 0.0
    c.forget("a")
    assert c.take("a", 0.1) is None
    assert c.take("b", 0.1) == r(1, 0)


def test_the_patch_of_a_report() -> None:
    body: Any = {"metadata": {"name": "t", "resourceVersion": "7"}, "spec": {"taskId": "t"}}
    assert progress_patch(body, r(50, 0, "rows 5/10")) == {
        "metadata": {"resourceVersion": "7"},
        "status": {
            "progress": {
                "percent": 50,
                "updatedAt": "1970-01-01T00:00:00.000000Z",
                "message": "rows 5/10",
            }
        },
    }
    assert progress_patch(body, r(50, 0))["status"]["progress"] == {
        "message": None,
        "percent": 50,
        "updatedAt": "1970-01-01T00:00:00.000000Z",
    }
