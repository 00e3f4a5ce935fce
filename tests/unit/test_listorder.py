"""GET /tasks pages from the order kept as tasks change (``web4ai.core.listorder``):
the same pages as sorting every task for every request (the listing before it), for
any status, phase, offset and limit, through additions, changes and deletions."""

from __future__ import annotations

import random
from typing import Any

import pytest

from tests.unit.controllers.objects import task_body
from web4ai.core import bodies
from web4ai.core.listorder import ListOrder, list_key
from web4ai.core.model import TaskPhase, TaskStatus

Body = dict[str, Any]


def a_task(rng: random.Random, i: int) -> Body:
    phase = rng.choice(list(TaskPhase))
    status: Body = {"status": phase.status.value, "phase": phase.value}
    when = bodies.format_time(1_700_000_000 + rng.randrange(50))  # ties on purpose
    if phase.bound or phase.terminal:
        status |= {"nodeId": "n", "assignedAt": when}
    if phase.terminal and rng.random() < 0.8:
        status["completedAt"] = bodies.format_time(1_700_000_100 + rng.randrange(50))
    return task_body(
        f"t{i}",
        submitted=1_600_000_000 + rng.randrange(20),
        priority=rng.randrange(3),
        status=status,
    )


def by_sorting(held: dict[str, Body], status: str, phase: str | None) -> list[str]:
    """What the listing did before: every task of the status sorted per request."""
    items = [
        bodies.as_task(b)
        for b in held.values()
        if bodies.task_status(bodies.as_task(b)).value == status
        and (phase is None or bodies.task_phase(bodies.as_task(b)).value == phase)
    ]
    items.sort(key=lambda b: list_key(b, bodies.task_phase(b)))
    return [bodies.name_of(b) for b in items]


@pytest.mark.parametrize("seed", range(5))
def test_pages_are_the_sorted_order(seed: int) -> None:
    rng, order, held = random.Random(seed), ListOrder(), dict[str, Body]()
    for step in range(600):
        i = rng.randrange(150)
        name = f"task-t{i}"
        if step % 7 == 0 and name in held:
            order.put(name, None)
            del held[name]
        else:
            body = a_task(rng, i)
            name = bodies.name_of(bodies.as_task(body))
            held[name] = body
            order.put(name, bodies.as_task(body), bodies.task_phase(bodies.as_task(body)))
    for status in TaskStatus:
        expected_all = by_sorting(held, status.value, None)
        assert order.count(status.value) == len(expected_all)
        for phase in [None, *TaskPhase]:
            expected = by_sorting(held, status.value, phase and phase.value)
            for offset, limit in ((0, 50), (3, 4), (len(expected) - 2, 10), (10_000, 5)):
                offset = max(0, offset)
                got = order.page(status.value, phase and phase.value, offset, limit)
                assert got == expected[offset : offset + limit]


def test_not_kept_holds_nothing() -> None:
    order = ListOrder(kept=False)
    body = bodies.as_task(task_body("t1"))
    order.put("t1", body, TaskPhase.QUEUED)
    assert order.count("pending") == 0 and order.page("pending", None, 0, 10) == []
