"""Disruption mode, as Kubernetes' node-lifecycle controller has it: when many nodes go
silent at once the fault is more likely ours (the API, the API server, the network) than
theirs, so nodes are not marked offline for a grace period. Pure; the caller passes the
time and the current settings."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class DisruptionGuard:
    """``may_mark_offline`` says whether silent nodes may go offline now.

    - For ``grace`` seconds after ``hold()`` (operator start, leadership gained) no.
    - When more than ``threshold`` of the nodes that are not offline are silent at once,
      a hold starts; once per episode (an episode ends when the silent share falls to the
      threshold or below), so that a real mass outage is acted on after the grace period.

    The grace is the one configured when asked (a change applies at once).
    """

    held_since: float | None = None
    in_episode: bool = False
    reason: str = ""

    def hold(self, now: float, reason: str) -> None:
        self.held_since, self.reason = now, reason

    def holding_until(self, grace: float) -> float:
        return -1.0 if self.held_since is None else self.held_since + grace

    def may_mark_offline(
        self, silent: int, watched: int, now: float, threshold: float, grace: float
    ) -> bool:
        share = silent / watched if watched else 0.0
        if share <= threshold:
            self.in_episode = False
        elif not self.in_episode and silent > 1:
            self.in_episode = True
            self.hold(now, f"{silent}/{watched} nodes went silent at once")
        return now >= self.holding_until(grace)
