"""Which finished tasks a retention round deletes (pure, no I/O)."""

from __future__ import annotations

import pytest

from web4ai.core.retention import to_retire

NOW = 1000.0
# finished tasks: name -> when it finished (None: unknown)
FIVE: dict[str, float | None] = {"a": 100.0, "b": 200.0, "c": 300.0, "d": 400.0, "e": 500.0}

ROWS: dict[str, tuple[dict[str, float | None], float, int, int, list[str]]] = {
    # finished, retention, max retained, batch -> deleted, oldest first
    "nothing old, under the count": (FIVE, 3600, 10, 100, []),
    "by age": (FIVE, 650, 10, 100, ["a", "b", "c"]),
    "by count, whatever the age": (FIVE, 3600, 3, 100, ["a", "b"]),
    "age and count together": (FIVE, 850, 3, 100, ["a", "b"]),
    "count beyond the age": (FIVE, 750, 1, 100, ["a", "b", "c", "d"]),
    "a bounded batch": (FIVE, 0, 1, 2, ["a", "b"]),
    "exactly at the count keeps all": (FIVE, 3600, 5, 100, []),
    "unknown finish time: oldest by count, never by age": (
        {"x": None, **FIVE},
        650,
        5,
        100,
        ["x", "a", "b", "c"],
    ),
    "unknown finish time under the count stays": ({"x": None, "a": 100.0}, 0, 5, 100, ["a"]),
    "ties broken by name": ({"b": 1.0, "a": 1.0, "c": 1.0}, 3600, 1, 100, ["a", "b"]),
}


@pytest.mark.parametrize(
    ("finished", "retention", "max_retained", "batch", "deleted"), ROWS.values(), ids=ROWS.keys()
)
def test_to_retire(
    finished: dict[str, float | None],
    retention: float,
    max_retained: int,
    batch: int,
    deleted: list[str],
) -> None:
    assert to_retire(finished, NOW, retention, max_retained, batch) == deleted
