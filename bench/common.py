"""Helpers shared by the benchmarks."""

from __future__ import annotations

import asyncio
from typing import Any


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def bounded(concurrency: int, coros: list[Any]) -> None:
    """Await the coroutines, at most ``concurrency`` at a time."""
    sem = asyncio.Semaphore(concurrency)

    async def run(c: Any) -> None:
        async with sem:
            await c

    await asyncio.gather(*(run(c) for c in coros))
