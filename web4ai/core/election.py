"""Leader election's clock rule, as client-go has it: another holder's lease is judged
by the local time at which we last saw its record change, never by the renewTime it
wrote (that is the other machine's clock). Pure; the caller passes the time."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass


@dataclass
class Observation:
    record: Hashable = None
    observed_at: float = 0.0

    def observe(self, record: Hashable, now: float) -> None:
        """Remember ``now`` when the record (holder, renewTime, transitions...) changed."""
        if record != self.record:
            self.record, self.observed_at = record, now

    def held_by_other(self, now: float, duration: float) -> bool:
        """Whether the observed lease is still live: renewed within ``duration`` of our
        own clock's observation."""
        return now - self.observed_at < duration
