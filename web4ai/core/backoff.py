"""Per-object exponential backoff for the operator's steps (pure; injected clock)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

# seconds between a callback's delivery attempts (web4ai.operator.callbacks)
CALLBACK_BACKOFF = (1.0, 2.0, 4.0, 8.0, 16.0)


@dataclass
class Backoff:
    """After a failure on ``key`` the next try waits ``base * 2**(n-1)`` seconds,
    capped at ``cap``; a success forgets the key."""

    clock: Callable[[], float]
    base: float = 1.0
    cap: float = 60.0
    _failures: dict[str, int] = field(default_factory=dict)
    _not_before: dict[str, float] = field(default_factory=dict)

    def ready(self, key: str) -> bool:
        return self.clock() >= self._not_before.get(key, 0.0)

    def failed(self, key: str) -> float:
        """Record a failure; returns the delay before the next try."""
        n = self._failures.get(key, 0) + 1
        self._failures[key] = n
        delay = min(self.cap, self.base * float(2 ** min(n - 1, 30)))
        self._not_before[key] = self.clock() + delay
        return delay

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)
        self._not_before.pop(key, None)

    def failures(self, key: str) -> int:
        return self._failures.get(key, 0)

    def forget_except(self, keys: set[str]) -> None:
        """Drop the keys of objects that are gone."""
        for k in [k for k in self._failures if k not in keys]:
            self.succeeded(k)

    def __len__(self) -> int:
        return len(self._failures)
