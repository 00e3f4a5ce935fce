"""Failure isolation: every controller step handles each object on its own.

An error on one object (a 422, a 5xx, a timeout, any exception) is logged with the
object's name, counted, and retried with per-object exponential backoff; it never
aborts the pass for the other objects.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from web4ai.core.backoff import Backoff
from web4ai.k8s.errors import http_detail

log = logging.getLogger(__name__)
T = TypeVar("T")


def describe(exc: BaseException) -> str:
    detail = http_detail(exc)
    if detail is not None:
        return detail
    return f"{type(exc).__name__}: {exc}"[:400]


@dataclass
class Isolation:
    clock: Callable[[], float] = time.time
    backoff: Backoff = field(init=False)
    steps: Backoff = field(init=False)  # a whole step that failed retries sooner
    errors: Counter[str] = field(default_factory=Counter)  # step -> failures
    skipped: Counter[str] = field(default_factory=Counter)  # step -> tries put off

    def __post_init__(self) -> None:
        self.backoff = Backoff(self.clock, base=1.0, cap=30.0)
        self.steps = Backoff(self.clock, base=0.5, cap=5.0)

    def ready(self, step: str, name: str) -> bool:
        return self.backoff.ready(f"{step}/{name}")

    async def run(
        self, step: str, name: str, call: Callable[..., Awaitable[T]], *args: Any, **kw: Any
    ) -> T | None:
        """``call(*args, **kw)``, or None when it failed or ``name`` is backing off in ``step``."""
        key = f"{step}/{name}"
        backoff = self.steps if step == "step" else self.backoff
        if not backoff.ready(key):
            self.skipped[step] += 1
            return None
        try:
            result = await call(*args, **kw)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.errors[step] += 1
            delay = backoff.failed(key)
            log.warning(
                "%s failed on %s (failure %d, next try in %.0fs): %s",
                step,
                name,
                backoff.failures(key),
                delay,
                describe(exc),
            )
            return None
        backoff.succeeded(key)
        return result
