"""The event loop every process runs on: uvloop's (libuv, its transports and TLS in C)
where it is installed, which is every supported install; asyncio's otherwise.

Profiles of the API under heartbeats put a third of its samples in asyncio's own
transports (the socket writes, the TLS layer to the API server, ``_run_once``);
uvloop does that work in C. Nothing else changes: the same coroutines run on it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """What makes a new event loop: uvloop's when it can be imported."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux and macOS
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on the loop of ``loop_factory``."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)
