"""Token buckets for per-key rate limiting, with an injected clock."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    capacity: float
    refill_per_second: float
    tokens: float
    updated: float

    def take(self, now: float) -> float:
        """Take one token; returns 0 when allowed, else seconds until one is available."""
        refill = (now - self.updated) * self.refill_per_second
        self.tokens = min(self.capacity, self.tokens + refill)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.refill_per_second


@dataclass
class RateLimiter:
    """``per_minute`` requests per key, with bursts up to the same number."""

    per_minute: int
    buckets: dict[str, TokenBucket] = field(default_factory=dict)
    max_keys: int = 100_000

    def check(self, key: str, now: float) -> float:
        bucket = self.buckets.get(key)
        if bucket is None or bucket.capacity != self.per_minute:
            if len(self.buckets) >= self.max_keys:
                self.buckets.clear()  # bounded memory; a reset only forgives
            bucket = TokenBucket(self.per_minute, self.per_minute / 60.0, self.per_minute, now)
            self.buckets[key] = bucket
        return bucket.take(now)
