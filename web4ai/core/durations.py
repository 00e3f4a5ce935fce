"""Durations as people write and read them: ``"90s"``, ``"15m"``, ``"24h"``, ``"7d"``,
``"1h30m"`` in; ``19 µs``, ``1.2 s``, ``3 m 04 s`` out. Pure: no I/O."""

from __future__ import annotations

import re

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")


def parse_duration(value: str | float) -> float:
    """Seconds of ``value``: a number (seconds) or text such as ``"24h"``, ``"7d"``,
    ``"1h30m"`` or ``"90"``. Raises ValueError for anything else or a negative."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or text such as 24h")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = value.strip().lower().replace(" ", "")
        try:
            seconds = float(text)
        except ValueError:
            parts = _PART.findall(text)
            if not parts or "".join(n + u for n, u in parts) != text:
                raise ValueError(
                    f"not a duration: {value!r} (use seconds or e.g. 90s, 15m, 24h, 7d)"
                ) from None
            seconds = sum(float(n) * UNITS[u] for n, u in parts)
    if seconds != seconds or seconds < 0 or seconds == float("inf"):
        raise ValueError(f"not a duration: {value!r}")
    return seconds


def human_duration(seconds: float | None) -> str:
    """``seconds`` for a table: ``19 µs``, ``340 ms``, ``1.2 s``, ``3 m 04 s``,
    ``2 h 05 m``, ``3 d 04 h``; "" for None."""
    if seconds is None:
        return ""
    sign = "-" if seconds < 0 else ""
    s = abs(float(seconds))
    if s == 0:
        return "0 s"
    if s < 1e-3:
        return f"{sign}{s * 1e6:.0f} µs"
    if s < 1:
        return f"{sign}{s * 1e3:.0f} ms"
    if s < 60:
        return f"{sign}{s:.1f} s"
    whole = round(s)
    if whole < 3600:
        return f"{sign}{whole // 60} m {whole % 60:02d} s"
    if whole < 86400:
        return f"{sign}{whole // 3600} h {whole % 3600 // 60:02d} m"
    return f"{sign}{whole // 86400} d {whole % 86400 // 3600:02d} h"
