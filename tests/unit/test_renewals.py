"""Which heartbeats renew their node's Lease at once and when the held ones are written
(web4ai.core.renewals): about one Lease write every second heartbeat, and whenever a
node falls silent its last heartbeat is on the Lease before the Lease expires."""

from __future__ import annotations

import random

import pytest

from web4ai.core.renewals import SPACING, Renewals, batch_slack

INTERVAL = 10.0  # the heartbeat interval
EXPIRES = 3 * INTERVAL  # liveness: offline after three intervals without a heartbeat


def simulate(
    beats: list[float], until: float, early: float = 0.0
) -> tuple[list[tuple[float, float]], Renewals]:
    """Heartbeats of one node at ``beats``; the writer looks every 0.5 s and takes what
    is due within ``early`` too. The Lease writes as (written at, renewTime)."""
    r = Renewals()
    writes: list[tuple[float, float]] = []
    lease: float | None = None
    pending = sorted(beats)
    t = 0.0
    while t <= until:
        while pending and pending[0] <= t:
            beat = pending.pop(0)
            if r.beat("n", beat, INTERVAL, lease):
                writes.append((beat, beat))
                lease = beat
                r.wrote("n", beat)
        for node, when in r.due(t, early):
            assert node == "n"
            writes.append((t, when))
            lease = max(lease or when, when)
            r.wrote("n", when)
        t += 0.5
    return writes, r


def test_the_first_heartbeat_writes_and_the_next_is_held() -> None:
    r = Renewals()
    assert r.beat("n", 100.0, INTERVAL, None)
    r.wrote("n", 100.0)
    assert not r.beat("n", 110.0, INTERVAL, 100.0)
    assert r.next_due() == 100.0 + SPACING * INTERVAL
    assert r.due(124.0) == []
    assert r.due(125.0) == [("n", 110.0)]
    assert r.due(200.0) == []  # each held heartbeat is written once


BATCHED = [0.0, batch_slack(INTERVAL)]  # written when due, or in batches (early)


@pytest.mark.parametrize("early", BATCHED)
def test_about_one_write_every_second_heartbeat(early: float) -> None:
    beats = [i * INTERVAL + random.Random(i).uniform(-0.5, 0.5) for i in range(1, 101)]
    writes, _ = simulate(beats, 1100.0, early)
    assert 45 <= len(writes) <= 55


def test_a_batch_takes_what_falls_due_within_its_slack() -> None:
    assert batch_slack(100.0) == 1.0
    assert batch_slack(2.0) == pytest.approx(0.4)  # a fifth of a short interval
    r = Renewals()
    for node, last in (("a", 100.0), ("b", 100.5), ("c", 101.5)):
        r.wrote(node, last)
        assert not r.beat(node, last + INTERVAL, INTERVAL, last)
    assert r.due(125.0, 1.0) == [("a", 110.0), ("b", 110.5)]  # c falls due at 126.5
    assert r.due(126.0, 1.0) == [("c", 111.5)]


@pytest.mark.parametrize("early", BATCHED)
def test_liveness_read_from_the_lease_is_exactly_that_of_the_heartbeats(early: float) -> None:
    """At every moment the Lease is live exactly when a heartbeat came within the last
    three intervals, whatever the pace (up to one interval), and never goes back, written
    when due or in batches."""
    rng = random.Random(7)
    for _ in range(200):
        beats = []
        t = rng.uniform(0, INTERVAL)
        for _ in range(rng.randint(1, 30)):
            beats.append(t)
            t += rng.uniform(0.2 * INTERVAL, INTERVAL)
        writes, _ = simulate(beats, beats[-1] + 4 * INTERVAL, early)
        times = [when for _, when in writes]
        assert times == sorted(times)
        assert times[-1] == beats[-1]
        for step in range(int((beats[-1] + 4 * INTERVAL) / 0.5)):
            now = step * 0.5
            lease = max((when for at, when in writes if at <= now), default=None)
            beat = max((b for b in beats if b <= now), default=None)
            alive = beat is not None and now < beat + EXPIRES
            assert (lease is not None and now < lease + EXPIRES) == alive, (now, beats)


def test_a_renewal_seen_on_the_watch_counts_as_written() -> None:
    r = Renewals()
    # another replica wrote at 130: a heartbeat at 140 is held, due at 155
    assert not r.beat("n", 140.0, INTERVAL, 130.0)
    assert r.next_due() == 130.0 + SPACING * INTERVAL
    # an old renewTime seen later does not move it back
    assert not r.beat("n", 145.0, INTERVAL, 100.0)
    assert r.due(155.0) == [("n", 145.0)]


def test_a_heartbeat_long_after_the_lease_writes_at_once() -> None:
    r = Renewals()
    assert not r.beat("n", 105.0, INTERVAL, 100.0)
    assert r.beat("n", 125.0, INTERVAL, 100.0)
    r.wrote("n", 125.0)
    assert not r.beat("n", 126.0, INTERVAL, 100.0)
    assert r.due(151.0) == [("n", 126.0)]  # due from the write at 125
    assert r.due(1000.0) == []  # the held one was written with it


def test_a_failed_write_is_held_again_and_retried() -> None:
    r = Renewals()
    assert not r.beat("n", 105.0, INTERVAL, 100.0)
    assert r.due(125.0) == [("n", 105.0)]
    r.failed("n", 105.0, 125.0)
    assert r.due(125.5) == []
    assert r.due(126.0) == [("n", 105.0)]


def test_shutdown_takes_every_held_heartbeat_and_a_forgotten_node_has_none() -> None:
    r = Renewals()
    for node in ("a", "b", "c"):
        assert not r.beat(node, 105.0, INTERVAL, 100.0)
    r.forget("b")
    assert sorted(r.held()) == [("a", 105.0), ("c", 105.0)]
    assert r.due(1000.0) == [] and r.next_due() is None and len(r) == 0
