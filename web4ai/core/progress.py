"""Progress reports of running tasks, coalesced: every report is news for the
WebSocket at once, but a task's ``status.progress`` is written at most once every
``interval`` seconds, with the last report of the interval (last wins). So a node
reporting 50 times a second costs the API server one write per task every 2 s.

Pure: the caller owns the clock and the timers (``offer`` says when to write,
``take`` hands over what to write).
"""

from __future__ import annotations

from dataclasses import dataclass, field

PROGRESS_INTERVAL = 2.0  # seconds between two writes of one task's progress
PRUNE_ABOVE = 4096  # forget writes older than the interval once this many are kept


@dataclass(frozen=True)
class Report:
    percent: float
    message: str | None
    at: float  # when the node reported it


@dataclass
class Coalescer:
    interval: float = PROGRESS_INTERVAL
    pending: dict[str, Report] = field(default_factory=dict)
    due: set[str] = field(default_factory=set)  # a write is scheduled
    written: dict[str, float] = field(default_factory=dict)  # task -> last write

    def offer(self, name: str, report: Report, now: float) -> float | None:
        """Keep ``report`` as the task's latest. Returns the delay after which the
        caller writes (``take``) it, or None when a write is scheduled already (it
        will carry this report, unless a later one replaces it)."""
        self.pending[name] = report
        if name in self.due:
            return None
        self.due.add(name)
        if len(self.written) > PRUNE_ABOVE:
            self.written = {
                k: t for k, t in self.written.items() if now - t < self.interval or k in self.due
            }
        return max(0.0, self.written.get(name, float("-inf")) + self.interval - now)

    def take(self, name: str, now: float) -> Report | None:
        """The report to write now (None: nothing pending), counted as written."""
        self.due.discard(name)
        report = self.pending.pop(name, None)
        if report is not None:
            self.written[name] = now
        return report

    def forget(self, name: str) -> None:
        """The task finished or is gone: drop what is pending."""
        self.pending.pop(name, None)
        self.due.discard(name)
        self.written.pop(name, None)
