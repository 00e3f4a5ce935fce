"""Names due at given times (web4ai.core.expiry): one due time per name, the latest
scheduled; stale heap entries never surface; against a plain dict over random runs."""

from __future__ import annotations

import random

from web4ai.core.expiry import COMPACT_SLACK, Expiry


def test_names_fall_due_in_time_order_each_once() -> None:
    e = Expiry()
    e.schedule("b", 2.0)
    e.schedule("a", 1.0)
    e.schedule("c", 3.0)
    assert e.pop_due(0.5) == []
    assert e.pop_due(2.0) == ["a", "b"]  # at <= now
    assert e.pop_due(2.0) == []
    assert len(e) == 1 and "c" in e and e.due_at("c") == 3.0
    assert e.next_due() == 3.0


def test_scheduling_again_replaces_the_earlier_time() -> None:
    e = Expiry()
    e.schedule("n", 1.0)
    e.schedule("n", 5.0)  # later: the entry at 1.0 is stale
    assert e.pop_due(1.0) == []
    assert e.next_due() == 5.0
    e.schedule("n", 2.0)  # earlier again
    assert e.pop_due(3.0) == ["n"]
    assert e.pop_due(10.0) == []  # the stale entry at 5.0 is skipped
    assert len(e) == 0 and e.next_due() is None


def test_a_forgotten_name_never_falls_due() -> None:
    e = Expiry()
    e.schedule("gone", 1.0)
    e.schedule("kept", 1.0)
    e.forget("gone")
    e.forget("never-scheduled")
    assert e.pop_due(1.0) == ["kept"]


def test_a_name_popped_and_scheduled_at_the_same_time_falls_due_again() -> None:
    e = Expiry()
    e.schedule("n", 1.0)
    assert e.pop_due(1.0) == ["n"]
    e.schedule("n", 1.0)
    assert e.pop_due(1.0) == ["n"]


def test_reschedule_all_and_replace_all() -> None:
    e = Expiry()
    for i, name in enumerate("edcba"):
        e.schedule(name, 10.0 + i)
    e.reschedule_all(float("-inf"))
    assert sorted(e.pop_due(0.0)) == list("abcde")
    e.schedule("x", 1.0)
    e.replace_all({"a": 3.0, "b": 2.0})
    assert "x" not in e and len(e) == 2
    assert e.pop_due(5.0) == ["b", "a"]


def test_the_heap_stays_small_when_names_are_scheduled_again_and_again() -> None:
    e = Expiry()
    for i in range(10 * COMPACT_SLACK):
        e.schedule("n", float(i))
    assert len(e._heap) <= 2 + COMPACT_SLACK
    assert e.pop_due(float("inf")) == ["n"]


def test_against_a_plain_dict() -> None:
    rng = random.Random(7)
    for _ in range(50):
        e, model = Expiry(), dict[str, float]()
        now = 0.0
        for _ in range(400):
            name = f"n{rng.randrange(30)}"
            op = rng.random()
            if op < 0.5:
                at = now + rng.uniform(-1.0, 5.0)
                e.schedule(name, at)
                model[name] = at
            elif op < 0.6:
                e.forget(name)
                model.pop(name, None)
            elif op < 0.62:
                e.reschedule_all(now)
                model = dict.fromkeys(model, now)
            else:
                now += rng.uniform(0.0, 1.0)
                due = sorted((at, n) for n, at in model.items() if at <= now)
                assert e.pop_due(now) == [n for _, n in due]
                for _, n in due:
                    del model[n]
            assert len(e) == len(model)
            assert e.next_due() == (min(model.values()) if model else None)
