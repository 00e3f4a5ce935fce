"""Background jobs that live as long as the app (aiohttp ``cleanup_ctx``), and the
writers' batches and last writes at shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


@contextlib.asynccontextmanager
async def running(*jobs: Coroutine[Any, Any, None]) -> AsyncIterator[None]:
    """Run ``jobs`` as tasks while the block runs; then cancel them and wait for them."""
    tasks = [asyncio.create_task(job) for job in jobs]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def in_batches(
    items: Sequence[T], write: Callable[[T], Awaitable[None]], at_once: int
) -> None:
    """``write`` each of ``items``, ``at_once`` at a time (each batch together; a write
    starts only with its batch)."""
    for start in range(0, len(items), at_once):
        await asyncio.gather(*(write(item) for item in items[start : start + at_once]))


async def at_shutdown(write: Awaitable[Any], within: float, what: str) -> None:
    """The last ``write`` of what is still kept, given ``within`` seconds; a failure is
    logged as ``what`` not written (shutting down either way)."""
    try:
        await asyncio.wait_for(write, within)
    except Exception as exc:
        log.warning("%s not written at shutdown: %s", what, exc)
