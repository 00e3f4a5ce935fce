"""Bounded text and summaries (pure)."""

from __future__ import annotations

from web4ai.core.backoff import Backoff
from web4ai.core.limits import CONDITION_MESSAGE_MAX, summarise, truncate
from web4ai.core.model import Node, NodeStatus, Requirements, Task, Thresholds
from web4ai.core.scheduling import RoundRobin, pick_node


def test_truncate_keeps_short_text_and_marks_cuts() -> None:
    assert truncate("abc", 10) == "abc"
    cut = truncate("x" * 100, 50)
    assert len(cut) == 50
    assert cut.endswith("... [truncated 79 characters]")
    assert cut.startswith("x" * 21)
    assert len(truncate("y" * 10, 3)) == 3


def test_summarise_says_how_many_and_the_first_few() -> None:
    assert summarise("capabilities", ["c", "a", "b", "d"]) == "4 capabilities: a, b, c, ..."
    assert summarise("capabilities", ["a"]) == "1 capability: a"
    long = summarise("capabilities", ["z" * 500])
    assert len(long) < 120


def test_the_unschedulable_explanation_of_256_long_capabilities_fits_a_condition() -> None:
    caps = frozenset(f"{i:03d}" + "c" * 125 for i in range(256))
    node = Node("n", NodeStatus.ACTIVE, 2, capabilities=frozenset({"000" + "c" * 125}))
    task = Task("t", "t", 3, 0.0, Requirements(capabilities=caps))
    decision = pick_node(task, [node], Thresholds(80, 85), RoundRobin())
    assert decision.node_id is None and decision.message is not None
    assert decision.message.startswith("0/1 nodes fit: 1 missing 255 capabilities: 001ccc")
    assert decision.message.endswith(", ...")
    assert len(decision.message) < 400 < CONDITION_MESSAGE_MAX


def test_backoff_doubles_per_object_and_forgets_on_success() -> None:
    now = [100.0]
    b = Backoff(lambda: now[0], base=1.0, cap=8.0)
    assert b.ready("a")
    assert [b.failed("a") for _ in range(5)] == [1.0, 2.0, 4.0, 8.0, 8.0]
    assert not b.ready("a") and b.ready("b")  # one object's failures are its own
    now[0] += 8.0
    assert b.ready("a")
    b.succeeded("a")
    assert b.failures("a") == 0 and b.failed("a") == 1.0
    b.forget_except(set())
    assert len(b) == 0


def test_error_text_keeps_any_unicode_and_is_cut_never_refused() -> None:
    import json

    from web4ai.core.schemas import errors, requests

    def error_message(text: str) -> str:
        body = {"node_id": "n", "status": "failed", "error_message": text}
        out = errors.parse(requests.TaskResult, json.dumps(body).encode()).error_message
        assert out is not None
        return out

    trace = 'Traceback (most recent call last):\n\tFile "x.py"\nValueError: ünïcødé ✓ 🚀\r\n'
    assert error_message(trace) == trace
    long = error_message("e" * 100_000)
    assert len(long) == 32768 and "[truncated" in long
    lone = error_message("a\ud800b")  # JSON allows a lone surrogate; UTF-8 does not
    assert lone.startswith("a") and lone.endswith("b")
    lone.encode("utf-8")


def test_results_over_the_size_limit_are_kept_as_cut_json_text() -> None:
    from web4ai.core import limits as lim
    from web4ai.core import validation as v

    small = {"answer": "42\n"}
    assert v.bounded_result(small) == small
    big = v.bounded_result({"rows": ["é" * 1000] * 1000})
    assert isinstance(big, str) and big.startswith('{"rows": ["éé') and "[truncated" in big
    assert v.json_size(big) <= lim.RESULT_MAX_BYTES
    text = v.bounded_result("z" * 2_000_000)
    assert v.json_size(text) <= lim.RESULT_MAX_BYTES and text.endswith("characters]")
