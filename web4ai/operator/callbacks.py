"""POSTing a task to its callback_url when it reaches a terminal status.

Delivery is at least once: the leader queues every terminal task whose
callback is not yet settled, retries with backoff, then records the outcome
(``status.callbackDelivered``) so that a new leader does not send it again.
A callback failure never changes the task's own status. The task is sent as the
API server has it (the operator keeps no inputs or results).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from web4ai.core import bodies, patches
from web4ai.core.backoff import CALLBACK_BACKOFF
from web4ai.core.crs import TaskBody
from web4ai.core.egress import EgressPolicy, url_form_problem
from web4ai.core.resources import TASKS
from web4ai.core.schemas import public
from web4ai.k8s.cache import ClusterState
from web4ai.k8s.errors import NotFound
from web4ai.k8s.writing import Writer
from web4ai.observability.metrics import OperatorMetrics, unregistered
from web4ai.operator.egress import Lookup, egress_session, post_json, system_lookup

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]


def needs_callback(body: TaskBody) -> bool:
    status = bodies.status_of(body)
    return (
        bool(body["spec"].get("callbackUrl"))
        and bodies.task_status(body).terminal
        and "callbackDelivered" not in status
    )


def run_key(body: TaskBody) -> tuple[object, ...]:
    """Which terminal run of the task a callback reports: a retry makes a new one."""
    status = bodies.status_of(body)
    return (status.get("status"), status.get("completedAt"), len(status.get("attempts") or []))


@dataclass
class CallbackSender:
    state: ClusterState
    writer: Writer
    clock: Callable[[], float]
    sleep: Sleep = asyncio.sleep
    lookup: Lookup = system_lookup
    backoff: tuple[float, ...] = CALLBACK_BACKOFF
    metrics: OperatorMetrics = field(default_factory=unregistered)
    _queued: set[str] = field(default_factory=set)
    _again: set[str] = field(default_factory=set)  # queued again while in flight
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _session: aiohttp.ClientSession | None = None

    def scan(self) -> None:
        """Queue every terminal task whose callback is unsettled (e.g. after a failover)."""
        for body in list(self.state.tasks_by_name.values()):
            if needs_callback(body):
                self.enqueue(bodies.name_of(body))

    def enqueue(self, name: str, done: tuple[object, ...] | None = None) -> None:
        """Deliver ``name``'s callback; ``done`` is a run already settled here."""
        if name in self._queued:
            # The delivery in flight may be of an earlier run (the task was retried
            # since): look again once it is done.
            self._again.add(name)
            return
        self._queued.add(name)
        task = asyncio.create_task(self._deliver(name, done))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    async def _post(self, url: str, payload: dict[str, Any]) -> str | None:
        """One try; None on success, else what went wrong."""
        if self._session is None:
            self._session = egress_session(self.policy, self.lookup)
        return await post_json(self._session, self.policy(), url, payload)

    def policy(self) -> EgressPolicy:
        return self.state.settings().egress_policy()

    async def _deliver(self, name: str, done: tuple[object, ...] | None) -> None:
        run: tuple[object, ...] | None = None
        try:
            body = self.state.tasks_by_name.get(name)
            if body is None or not needs_callback(body) or run_key(body) == done:
                return
            url = body["spec"]["callbackUrl"]
            run = run_key(body)
            error = url_form_problem(url)  # a bad port too: a reason, not a crash
            if error is None:
                # the store's body is lean (no input, no result): the payload is read whole
                full = await self.writer.get(TASKS, name)
                if full is None or run_key(bodies.as_task(full)) != run:
                    return  # gone, or another run by now: the watch brings it
                payload = public.task_public(bodies.as_task(full))
                for attempt, delay in enumerate((0.0, *self.backoff)):
                    if delay:
                        await self.sleep(delay)
                    try:
                        error = await self._post(url, payload)
                    except Exception as exc:  # never unsettled: say why, do not retry
                        error = f"refused: {type(exc).__name__}: {exc}"
                    if error is None or error.startswith("refused"):
                        break
                    log.info(
                        "callback for %s failed (try %d): %s",
                        name,
                        attempt + 1,
                        error,
                        extra={"task_id": body["spec"].get("taskId")},
                    )
            await self._settle(name, run, error)
        finally:
            self._queued.discard(name)
            if name in self._again:
                self._again.discard(name)
                self.enqueue(name, run or done)

    async def _settle(self, name: str, run: tuple[object, ...], error: str | None) -> None:
        body = self.state.tasks_by_name.get(name)
        if body is None or run_key(body) != run:
            return  # gone, or retried meanwhile: that run's callback is its own
        outcome = (
            "delivered" if error is None else "refused" if error.startswith("refused") else "failed"
        )
        self.metrics.callbacks.labels(outcome).inc()
        now = self.clock()
        status = bodies.status_of(body)
        cond = patches.condition(
            "CallbackDelivered",
            error is None,
            "Delivered" if error is None else "DeliveryFailed",
            "callback delivered" if error is None else error,
            now,
        )
        patch = {
            "status": {
                "callbackDelivered": error is None,
                "conditions": patches.set_condition(status.get("conditions"), cond),
            }
        }
        # Not guarded: the task is terminal and only this field and a condition change.
        with contextlib.suppress(NotFound):  # deleted meanwhile: nothing to record
            await self.writer.patch(TASKS, name, patch, status=True)
