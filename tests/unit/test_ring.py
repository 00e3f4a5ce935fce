"""The routing ring (web4ai.core.ring) kept through nodes coming and going walks as a
ring made at once does, and as the plain sorted list of every node's points (the
ring before it was kept in arcs) did."""

from __future__ import annotations

import bisect
import random
from collections.abc import Iterator

import pytest

from web4ai.core.ring import ARC_BITS, VIRTUAL_NODES, Ring, point


def walk_of_sorted_points(node_ids: set[str], key: str) -> Iterator[str]:
    """The reference: every point in one sorted list, each node once from the key's."""
    ring = sorted((point(f"{n}#{i}"), n) for n in node_ids for i in range(VIRTUAL_NODES))
    points = [p for p, _ in ring]
    if not points:
        return
    start, seen = bisect.bisect(points, point(key)), set()
    for i in range(len(ring)):
        owner = ring[(start + i) % len(ring)][1]
        if owner not in seen:
            seen.add(owner)
            yield owner
            if len(seen) == len(node_ids):
                return


@pytest.mark.parametrize("seed", range(12))
def test_a_kept_ring_walks_as_the_sorted_points_do(seed: int) -> None:
    rng = random.Random(seed)
    ring, ids = Ring(), set()
    for _ in range(8):
        ids = set(rng.sample([f"node-{i}" for i in range(60)], rng.randint(0, 40)))
        ring.update(ids)
        assert ring.nodes == ids
        assert sum(len(arc) for arc in ring._arcs) == VIRTUAL_NODES * len(ids)
        for key in [f"key-{rng.randrange(10**6)}" for _ in range(10)]:
            expected = list(walk_of_sorted_points(ids, key))
            assert list(ring.walk(key)) == expected
            assert list(Ring.of(ids).walk(key)) == expected


def test_a_key_in_the_last_arc_wraps_to_the_first() -> None:
    ids = {f"n{i}" for i in range(3)}
    key = next(f"k{i}" for i in range(10**6) if point(f"k{i}") >> (64 - ARC_BITS) == 255)
    assert list(Ring.of(ids).walk(key)) == list(walk_of_sorted_points(ids, key))
    assert sorted(Ring.of(ids).walk(key)) == sorted(ids)
