"""A bounded in-memory history of the network's headline numbers, sampled from the
watch cache (never from the API server), so that the dashboard's charts are full
the moment the page opens. Long-term series belong in Prometheus."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import Any

SAMPLE_EVERY = 5.0  # seconds, like network_status
RETENTION = 3600.0  # seconds kept in memory: 720 samples of ~200 bytes each


def sample_of(summary: dict[str, Any], now: float) -> dict[str, Any]:
    """One point of every chart, from a ``network_summary``."""
    tasks = summary["tasks"]
    return {
        "timestamp": round(now, 3),
        "network_utilization": summary["network_utilization"],
        "pending_tasks": tasks["pending"],
        "active_tasks": tasks["active"],
        "tasks_completed": summary["tasks_completed"],
        "tasks_failed": summary["tasks_failed"],
        "avg_cpu_usage": summary["avg_cpu_usage"],
        "avg_memory_usage": summary["avg_memory_usage"],
        "active_nodes": summary["active_nodes"],
        "total_nodes": summary["total_nodes"],
        "average_response_time": summary["average_response_time"],
    }


@dataclass
class History:
    """A ring buffer of samples; ``completions_per_second`` is derived on read."""

    every: float = SAMPLE_EVERY
    retention: float = RETENTION
    samples: deque[dict[str, Any]] = field(default_factory=deque)

    def __post_init__(self) -> None:
        self.samples = deque(maxlen=max(1, int(self.retention / self.every)))

    def add(self, sample: dict[str, Any]) -> None:
        self.samples.append(sample)

    def window(self, seconds: float, now: float) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        previous: dict[str, Any] | None = None
        for s in self.samples:
            if s["timestamp"] >= now - seconds - self.every and previous is not None:
                dt = s["timestamp"] - previous["timestamp"]
                done = s["tasks_completed"] - previous["tasks_completed"]
                rate = max(0.0, done / dt) if dt > 0 else 0.0
                if s["timestamp"] >= now - seconds:
                    out.append(s | {"completions_per_second": round(rate, 4)})
            previous = s
        return out


async def sample_forever(history: History, take: Any, enabled: Any) -> None:
    """Add ``take()`` (a sample) every ``history.every`` seconds while ``enabled()``
    (``performance.monitoring_enabled``)."""
    while True:
        if enabled():
            history.add(take())
        await asyncio.sleep(history.every)
