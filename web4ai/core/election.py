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
    first_seen: float | None = None  # when this replica first read the lease

    def observe(self, record: Hashable, now: float) -> None:
        """Remember ``now`` when the record (holder, renewTime, transitions...) changed."""
        if self.first_seen is None:
            self.first_seen = now
        if record != self.record:
            self.record, self.observed_at = record, now

    def held_by_other(self, now: float, duration: float) -> bool:
        """Whether the observed lease is still live: renewed within ``duration`` of our
        own clock's observation."""
        return now - self.observed_at < duration

    def may_take(self, holder: str | None, now: float, duration: float, grace: float) -> bool:
        """Whether another's lease may be taken now. A held one: once it went unrenewed
        for ``duration``. A released one (no holder: a leader let go on shutdown): at
        once by a replica that was already standing by, watching the lease for a whole
        ``duration`` before it saw the release (its caches are warm); a newcomer waits
        until it has seen the release for ``grace`` (a few of the standby's polls). So
        when a leader's pod is deleted, the standby takes over, not the pod that
        replaces it (even if the old pod is slow to let go), and a lone replica's
        restart waits only ``grace``."""
        if holder:
            return not self.held_by_other(now, duration)
        first = self.first_seen
        standing = first is not None and self.observed_at - first >= duration
        return standing or now - self.observed_at >= grace
