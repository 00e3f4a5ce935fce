"""What the reference node's poll asks for (pure, no I/O)."""

from __future__ import annotations

from web4ai.node.agent import HELD_LIMIT, held_ids


def test_a_poll_names_the_tasks_its_node_holds_within_the_limit() -> None:
    assert held_ids([]) == ""
    assert held_ids(["a", "b-1", "c"]) == "a,b-1,c"
    assert held_ids(["aaaa", "bbbb", "cccc"], limit=9) == "aaaa,bbbb"  # 9 chars: fits
    assert held_ids(["aaaa", "bbbb", "cccc"], limit=8) == "aaaa"
    ids = [f"task-{i:058d}" for i in range(500)]  # 63-character ids, more than fit
    value = held_ids(ids)
    assert len(value) <= HELD_LIMIT and value.split(",") == ids[: len(value.split(","))]
