"""The scheduler: pending tasks onto nodes, one guarded write per binding.

Pipelined, as kube-scheduler is: a pass decides on the cache snapshot, reserves
the slot in memory (``Assumed``: a decided task counts against its node and is not
pending until the watch shows a newer version of it or its write fails), starts the
guarded write and goes on deciding; at most ``max_in_flight`` writes run at once.
A pass never waits for writes, so a new task is decided on the next watch event.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field, replace
from typing import Any

from web4ai.core import bodies, patches
from web4ai.core.assuming import Assumed
from web4ai.core.crs import Body, Patch, TaskBody
from web4ai.core.model import Algorithm, Node, Task, TaskPhase
from web4ai.core.recommending import overloaded
from web4ai.core.resources import TASKS
from web4ai.core.scheduling import BALANCERS, SCHEDULABLE, Balancer, only_capacity, pick_node
from web4ai.k8s.cache import ClusterState
from web4ai.k8s.errors import RACED
from web4ai.k8s.writing import Writer
from web4ai.observability.metrics import OperatorMetrics, unregistered
from web4ai.operator.isolation import Isolation

log = logging.getLogger(__name__)

CONDITION_REFRESH = 10.0  # seconds between rewrites of a changing Unschedulable message
EXPLAIN_PER_PASS = 32  # explanation writes started per pass, and in flight at most
DECIDE_CHUNK = 64  # decisions between two yields to the loop (writes start meanwhile)
FULL_PASS_EVERY = 0.5  # seconds: a pass with nothing noted still looks this often
PENDING = (TaskPhase.QUEUED, TaskPhase.RETRYING)
# Binding writes in flight at once: more drains a backlog no faster once the API
# server is busy, fewer lets a stream of creates crowd the bindings out (measure it
# with ``python -m bench.scheduler``; README, "Performance").
BIND_IN_FLIGHT = 64


@dataclass
class Scheduler:
    state: ClusterState
    writer: Writer
    clock: Callable[[], float]
    max_in_flight: int = BIND_IN_FLIGHT
    guard: Isolation = field(default_factory=Isolation)
    metrics: OperatorMetrics = field(default_factory=unregistered)
    active: Callable[[], bool] = lambda: True  # leading; queued writes not yet sent check it
    bound: int = 0
    assumed: Assumed = field(default_factory=Assumed)
    _algorithm: Algorithm | None = None
    _balancer: Balancer | None = None
    _condition_written: dict[str, float] = field(default_factory=dict)
    _parsed: dict[str, tuple[str, Task]] = field(default_factory=dict)
    _limit: asyncio.Semaphore | None = None
    _writes: set[asyncio.Task[None]] = field(default_factory=set)
    _explaining: set[str] = field(default_factory=set)
    _paused: bool = False  # as of the last pass; queued writes are not sent once paused
    # Something that can change a decision happened since the last pass (a task became
    # or stayed pending, a slot was freed, a node or the settings changed, a write
    # failed). Our own bindings coming back do not count: a backlog's drain is not
    # rescanned on every write. A pass runs anyway every FULL_PASS_EVERY seconds.
    _dirty: bool = True
    _looked_at: float = float("-inf")
    # assumed tasks the watch (or our writes) changed since the last pass: only their
    # assumptions can have expired; all of them are checked every FULL_PASS_EVERY
    _touched: set[str] = field(default_factory=set)
    _swept_at: float = float("-inf")

    def note_task(self, new: TaskBody, old: TaskBody | None) -> None:
        """Task watch hook (also our own writes): does it need a pass?"""
        name = bodies.name_of(new)
        if name in self.assumed.entries:  # only an assumption can expire (none on a standby)
            self._touched.add(name)
        phase = bodies.task_phase(new)
        if phase in PENDING or (
            old is not None and bodies.task_phase(old).bound and not phase.bound
        ):
            self._dirty = True

    def note(self, *_: object) -> None:
        """Node and orchestrator watch hook."""
        self._dirty = True

    def task(self, body: TaskBody) -> Task:
        """The task of a body, parsed once per resourceVersion."""
        name, version = bodies.name_of(body), bodies.resource_version(body)
        hit = self._parsed.get(name)
        if hit is None or hit[0] != version:
            hit = (version, bodies.task_from_body(body))
            self._parsed[name] = hit
        return hit[1]

    def _parsable(self, body: TaskBody) -> bool:
        """Whether the task can be read; one that cannot is logged and left alone."""
        try:
            self.task(body)
        except Exception as exc:
            name = bodies.name_of(body)
            if self.guard.ready("parse", name):
                self.guard.errors["parse"] += 1
                delay = self.guard.backoff.failed(f"parse/{name}")
                log.warning("cannot read task %s (next look in %.0fs): %r", name, delay, exc)
            return False
        return True

    def balancer(self, algorithm: Algorithm) -> Balancer:
        """The balancer of the configured algorithm; a change applies to the next decision."""
        if self._balancer is None or algorithm is not self._algorithm:
            self._algorithm, self._balancer = algorithm, BALANCERS[algorithm]()
        return self._balancer

    def _cached_version(self, name: str) -> str | None:
        body = self.state.tasks.store.get(name)
        return None if body is None else bodies.resource_version(body)

    def _waiting(self, body: TaskBody) -> bool:
        """Pending and ours to decide: not assumed, not being explained, not backing off."""
        name = bodies.name_of(body)
        return (
            not body["metadata"].get("deletionTimestamp")
            and not self.assumed.holds(name, bodies.resource_version(body))
            and name not in self._explaining
            and self.guard.ready("bind", name)  # backing off after a failure
            and self._parsable(body)
        )

    async def run_once(self) -> int:
        """One pass: decide every pending task and start its write; returns the number
        of bindings started (their writes complete in the background)."""
        # 0. Nothing noted since the last look, and looked recently: nothing to decide.
        now = self.clock()
        if not self._dirty and now - self._looked_at < FULL_PASS_EVERY:
            return 0
        self._dirty, self._looked_at = False, now
        # 1. Paused orchestrators assign nothing.
        settings = self.state.settings()
        self._paused = settings.paused
        if settings.paused:
            return 0
        balancer = self.balancer(settings.algorithm)
        # 2. Snapshot: pending tasks (minus the assumed ones) in order, then nodes with
        #    their bound counts plus the assumed bindings. While a backlog's writes are
        #    in flight every pending task is assumed: the pass ends here, cheaply.
        if now - self._swept_at >= FULL_PASS_EVERY:  # deleted tasks, too
            self._swept_at = now
            self.assumed.expire(self._cached_version)
        else:
            self.assumed.expire(self._cached_version, self._touched)
        self._touched.clear()
        pending = sorted(
            (
                b
                for b in self.state.tasks_with(*PENDING, excluding=self.assumed.entries.keys())
                if self._waiting(b)
            ),
            key=lambda b: self.task(b).order,
        )
        pending_names = {bodies.name_of(b) for b in pending}
        self._condition_written = {
            k: v
            for k, v in self._condition_written.items()
            if k in pending_names or k in self._explaining
        }
        if len(self._parsed) > 2 * len(pending_names) + len(self.assumed) + 1000:
            keep = pending_names | set(self.assumed.entries)
            self._parsed = {k: v for k, v in self._parsed.items() if k in keep}
        if not pending:
            return 0
        views = self.state.node_views()
        for node_id, count in self.assumed.counts().items():
            if node_id in views:
                views[node_id] = replace(views[node_id], running=views[node_id].running + count)
        started = time.perf_counter()
        unschedulable: list[TaskBody] = []
        # 3. Decide in order; a slot taken by one decision is gone for the next. With
        #    optimization on and a node over the thresholds (the load_rebalancing
        #    advice), underloaded nodes are preferred. Each binding's write starts at
        #    once; the loop yields now and then so that writes go out while deciding.
        rebalance = settings.optimization_enabled and any(
            v.status in SCHEDULABLE and overloaded(v, settings.thresholds) for v in views.values()
        )
        open_nodes: dict[str, Node] = {
            k: v for k, v in views.items() if v.status in SCHEDULABLE and v.free_slots > 0
        }
        binds = 0
        for body in pending:
            task = self.task(body)
            decision = pick_node(
                task,
                list(open_nodes.values()),
                settings.thresholds,
                balancer,
                optimize=rebalance,
            )
            if decision.node_id is None:
                unschedulable.append(body)
                continue
            node = open_nodes[decision.node_id]
            node = replace(node, running=node.running + 1)
            views[node.node_id] = node
            if node.free_slots > 0:
                open_nodes[node.node_id] = node
            else:
                del open_nodes[node.node_id]
            self.assumed.assume(bodies.name_of(body), node.node_id, bodies.resource_version(body))
            self._start(self._bind(body, node.node_id, now))
            binds += 1
            if binds % DECIDE_CHUNK == 0:
                await asyncio.sleep(0)
        # 4. Say why the rest waits (Queued when every node is merely full), a bounded
        #    number at a time and in the background, so that explaining never delays
        #    binding; a task being explained is not decided until its write returns.
        for body in unschedulable:
            if len(self._explaining) >= EXPLAIN_PER_PASS:
                break
            name = bodies.name_of(body)
            last = self._condition_written.get(name)
            if last is not None and now - last < CONDITION_REFRESH:
                continue
            task = self.task(body)
            # explain against every node, not only the open ones
            message = (
                pick_node(task, list(views.values()), settings.thresholds, balancer).message
                or "waiting for a free slot"
            )
            patch = self._explanation(body, message, now)
            if patch is not None:
                self._explaining.add(name)
                self._start(self._explain(name, patch, now))
        self.metrics.schedule_attempts.labels("unschedulable").inc(len(unschedulable))
        self.metrics.attempt_duration.observe(time.perf_counter() - started)
        return binds

    def _start(self, coro: Coroutine[Any, Any, None]) -> None:
        write = asyncio.create_task(coro)
        self._writes.add(write)
        write.add_done_callback(self._writes.discard)

    async def drain(self) -> None:
        """Wait for every write started so far (tests and shutdown)."""
        while self._writes:
            await asyncio.gather(*list(self._writes), return_exceptions=True)

    async def close(self) -> None:
        for write in list(self._writes):
            write.cancel()
        await asyncio.gather(*list(self._writes), return_exceptions=True)

    async def _bind(self, body: TaskBody, node_id: str, now: float) -> None:
        name, version = bodies.name_of(body), bodies.resource_version(body)
        if self._limit is None:
            self._limit = asyncio.Semaphore(self.max_in_flight)
        try:
            async with self._limit:
                # decided a while ago? not leading any more, paused, or the task moved
                # on (the guarded write would only conflict): do not send it
                if not self.active() or self._paused or self._cached_version(name) != version:
                    self.metrics.schedule_attempts.labels("conflict").inc()
                    self._dirty = True
                    return
                result = await self.guard.run(
                    "bind",
                    name,
                    self._write_status,
                    name,
                    patches.bind_patch(body, node_id, now),
                )
            if result is None:
                self.metrics.schedule_attempts.labels("conflict").inc()
                self._dirty = True  # its slot is free again
                return  # someone acted first; the watch brings the new version
            self.metrics.schedule_attempts.labels("scheduled").inc()
            self.metrics.queue_wait.observe(max(0.0, now - bodies.submitted_at(body)))
            ids = {"task_id": body["spec"].get("taskId"), "node_id": node_id}
            log.debug("task bound to node %s", node_id, extra=ids)
            self.state.record_task(result)  # the cache now counts it: no assumption needed
            self._condition_written.pop(name, None)
            self.bound += 1
        finally:
            self.assumed.forget(name, version)
            self.state.changed.set()  # a failed write frees its slot for the next pass

    async def _write_status(self, name: str, patch: Patch) -> Body | None:
        """The patched task, or None when someone acted first or it is gone (a lost
        race is no failure: the watch brings the new version)."""
        try:
            return await self.writer.patch(TASKS, name, patch, status=True)
        except RACED:
            return None

    def _explanation(self, body: TaskBody, message: str, now: float) -> Patch | None:
        """The condition patch to write for a waiting task, or None (said already/recently)."""
        last = self._condition_written.get(bodies.name_of(body))
        if last is not None and now - last < CONDITION_REFRESH:
            return None
        reason = "Queued" if only_capacity(message) else "Unschedulable"
        return patches.unschedulable_patch(body, message, now, reason)

    async def _explain(self, name: str, patch: Patch, now: float) -> None:
        try:
            result = await self.guard.run("explain", name, self._write_status, name, patch)
            self._condition_written[name] = now
            if result is not None:
                self.state.record_task(result)
        finally:
            self._explaining.discard(name)
            self._dirty = True  # it may be decided again
            self.state.changed.set()
