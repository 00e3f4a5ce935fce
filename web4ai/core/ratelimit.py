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


PACED_BURST = 5  # a node's heartbeats and registrations at once (a restart, a retry)


@dataclass
class PacedLimiter:
    """A node's heartbeats and registrations have a budget of their own, not its key's
    (nor, with keys off, its address's): twice the pace the orchestrator allows it
    (``min_heartbeat_interval``, at least 2 a second while that is under a second),
    bursts of PACED_BURST. A node that keeps to the pace it is told is never refused,
    however many nodes share a key or an address."""

    buckets: dict[str, TokenBucket] = field(default_factory=dict)
    max_keys: int = 1_000_000

    def check(self, node_id: str, min_interval: float, now: float) -> float:
        rate = 2.0 / max(min_interval, 1.0)
        bucket = self.buckets.get(node_id)
        if bucket is None:
            if len(self.buckets) >= self.max_keys:
                self.buckets.clear()  # bounded memory; a reset only forgives
            bucket = TokenBucket(PACED_BURST, rate, PACED_BURST, now)
            self.buckets[node_id] = bucket
        bucket.refill_per_second = rate
        return bucket.take(now)


@dataclass
class FailureLimiter:
    """Failed authentications per client address: ``per_minute`` failures, bursts up
    to the same number; once spent, every attempt from that address waits (429) so
    that keys cannot be guessed at speed."""

    per_minute: int = 30
    buckets: dict[str, TokenBucket] = field(default_factory=dict)
    max_keys: int = 100_000

    def _bucket(self, key: str, now: float) -> TokenBucket:
        bucket = self.buckets.get(key)
        if bucket is None:
            if len(self.buckets) >= self.max_keys:
                self.buckets.clear()
            bucket = TokenBucket(self.per_minute, self.per_minute / 60.0, self.per_minute, now)
            self.buckets[key] = bucket
        return bucket

    def retry_after(self, key: str, now: float) -> float:
        """0 when ``key`` may try to authenticate, else seconds until it may."""
        bucket = self.buckets.get(key)
        if bucket is None:
            return 0.0
        refill = (now - bucket.updated) * bucket.refill_per_second
        tokens = min(bucket.capacity, bucket.tokens + refill)
        if tokens >= 1:
            return 0.0
        return (1 - tokens) / bucket.refill_per_second

    def failed(self, key: str, now: float) -> None:
        self._bucket(key, now).take(now)
