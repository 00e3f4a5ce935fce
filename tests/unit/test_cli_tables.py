"""The CLI's tables speak to people: durations and times in words; JSON keeps numbers."""

from __future__ import annotations

import json

from web4ai.commands.tables import duration, emit, field_rows, when

NOW = 1_800_000_000.0


def test_durations_and_times_in_words() -> None:
    assert duration(1.9e-05) == "19 µs" and duration(None) == "" and duration(True) == ""
    assert when(NOW - 184, NOW) == "3 m 04 s ago"
    assert when(NOW + 7500, NOW) == "in 2 h 05 m"
    assert when("2027-01-16T08:00:00Z", NOW) == "in 1 d 00 h"
    assert when(None, NOW) == "" and when("not a time", NOW) == "not a time"


def test_a_document_as_rows() -> None:
    rows = dict(
        field_rows(
            {"execution_time": 1.2, "created_at": NOW - 5, "status": "completed", "x": None},
            NOW,
        )
    )
    assert rows == {
        "execution_time": "1.2 s",
        "created_at": "5.0 s ago",
        "status": '"completed"',
        "x": "null",
    }


def test_json_keeps_the_raw_numbers(capsys: object) -> None:
    emit({"execution_time": 1.9e-05}, "json", [("TIME",), ("19 µs",)])
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert json.loads(out) == {"execution_time": 1.9e-05}
