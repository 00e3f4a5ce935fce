"""What the CLI prints: JSON (``-o json``: the API's raw numbers) or a table for people
(durations as ``19 µs``, ``1.2 s``, ``3 m 04 s``; times as how long ago or how soon)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from web4ai.core.durations import human_duration


def emit(data: Any, output: str, table: Sequence[Sequence[str]] | None = None) -> None:
    if output == "json" or table is None:
        print(json.dumps(data, indent=2, sort_keys=True))
        return
    widths = [max(len(str(row[i])) for row in table) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def duration(seconds: Any) -> str:
    """A number of seconds for a table ("" when there is none)."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        return ""
    return human_duration(seconds)


def when(value: Any, now: float) -> str:
    """An RFC 3339 time or Unix seconds as ``3 m 04 s ago`` / ``in 23 h 59 m``."""
    if value is None or value == "":
        return ""
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            ts = float(value)
        else:
            ts = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return str(value)
    delta = ts - now
    if abs(delta) < 1:
        return "now"
    return f"in {human_duration(delta)}" if delta > 0 else f"{human_duration(-delta)} ago"


DURATIONS = {"execution_time", "uptime", "timeout", "average_response_time", "drain_deadline"}
TIMES = {"last_heartbeat", "last_activity", "timestamp"}


def field_rows(doc: dict[str, Any], now: float) -> list[tuple[str, str]]:
    """A document as FIELD/VALUE rows: durations and times for people, the rest JSON."""
    rows = []
    for key, value in doc.items():
        if key in DURATIONS and isinstance(value, int | float) and not isinstance(value, bool):
            text = duration(value)
        elif (key.endswith("_at") or key in TIMES) and value is not None:
            text = when(value, now)
        else:
            text = json.dumps(value)
        rows.append((key, text))
    return rows
