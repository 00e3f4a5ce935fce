"""The metrics history ring buffer: bounded, windowed, with a derived completion rate."""

from __future__ import annotations

from web4ai.api.history import History


def sample(t: float, completed: int) -> dict[str, float]:
    return {"timestamp": t, "tasks_completed": completed}


def test_the_buffer_is_bounded_by_retention() -> None:
    h = History(every=5.0, retention=60.0)
    for i in range(100):
        h.add(sample(i * 5.0, i))
    assert len(h.samples) == 12
    assert h.samples[0]["timestamp"] == 88 * 5.0


def test_window_and_completions_per_second() -> None:
    h = History(every=5.0, retention=3600.0)
    for i in range(10):
        h.add(sample(1000 + i * 5.0, i * 10))
    got = h.window(20, now=1045.0)
    assert [s["timestamp"] for s in got] == [1025.0, 1030.0, 1035.0, 1040.0, 1045.0]
    assert all(s["completions_per_second"] == 2.0 for s in got)


def test_a_falling_total_never_gives_a_negative_rate() -> None:
    h = History()
    h.add(sample(0.0, 50))
    h.add(sample(5.0, 40))  # totals can drop when finished tasks are deleted
    assert h.window(10, now=5.0)[0]["completions_per_second"] == 0.0
