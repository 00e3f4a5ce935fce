"""What a node tells the orchestrator beyond its resources: the models its agents
serve and hold loaded, and the progress of its running tasks."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from web4ai.client import AsyncClient
from web4ai.node.executors import ExecutionContext, endpoint_models

log = logging.getLogger(__name__)

MODELS_EVERY = 60.0  # seconds between two looks at the inference endpoint's models
PROGRESS_EVERY = 0.5  # seconds between two progress reports of a task


@dataclass
class Models:
    """The agents' models: the inference endpoint's list (asked at most once every
    MODELS_EVERY seconds) and the models the test executors simulate. Every agent of
    the reference node runs every executor, so each serves, and holds, all of them."""

    context: ExecutionContext
    simulated: list[str]
    names: list[str] = field(default_factory=list)
    asked_at: float | None = None

    async def refresh(self) -> None:
        now = time.monotonic()
        if self.asked_at is not None and now - self.asked_at < MODELS_EVERY:
            return
        self.asked_at = now
        listed = await endpoint_models(self.context) if self.context.inference_url else []
        self.names = sorted({*listed, *self.simulated})

    def of_agent(self) -> dict[str, Any]:
        """An agent's ``specialized_models`` and ``loaded_models`` ({} without models)."""
        if not self.names:
            return {}
        return {"specialized_models": self.names, "loaded_models": self.names}


def reporter(
    client: AsyncClient, node_id: str, task_id: str
) -> Callable[[float, str | None], Awaitable[None]]:
    """The progress callback of one task: at most one report every PROGRESS_EVERY
    seconds (the API coalesces its writes further), best effort."""
    last = float("-inf")

    async def report(percent: float, message: str | None) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last < PROGRESS_EVERY:
            return
        last = now
        body: dict[str, Any] = {"node_id": node_id, "percent": round(percent, 2)}
        if message is not None:
            body["message"] = message[:1024]
        try:
            await client.request("POST", f"/tasks/{task_id}/progress", body)
        except Exception as exc:  # progress is news, not state: it never fails the task
            log.debug("progress of %s not sent: %r", task_id, exc)

    return report
