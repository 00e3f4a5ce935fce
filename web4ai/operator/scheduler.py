"""The scheduler: pending tasks onto nodes, one guarded write per binding.

Pipelined, as kube-scheduler is: a pass decides on the cache snapshot, reserves
the slot in memory (``Assumed``: a decided task counts against its node and is not
pending until the watch shows a newer version of it or its write fails), starts the
guarded write and goes on deciding; at most ``max_in_flight`` writes run at once.
A pass never waits for writes, so a new task is decided on the next watch event.

A task that fits no node waits in the unschedulable set (``web4ai.core.queueing``),
which no pass looks at: only an event that could make it fit moves it back (a node
added or changed, a slot freed, the settings changed), or the slow flush. Its
Scheduled condition is written when its message changes, never on a timer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection, Coroutine
from dataclasses import dataclass, field, replace
from typing import Any

from web4ai.core import bodies, patches
from web4ai.core.assuming import Assumed
from web4ai.core.crs import Body, NodeBody, OrchestratorBody, Patch, TaskBody
from web4ai.core.ids import IdKind, object_name
from web4ai.core.model import Algorithm, Node, Task, TaskPhase
from web4ai.core.nodeindex import Views, pick_open
from web4ai.core.queueing import Unschedulable, needs
from web4ai.core.resources import TASKS
from web4ai.core.ring import Ring
from web4ai.core.scheduling import BALANCERS, Balancer
from web4ai.k8s.cache import ClusterState
from web4ai.k8s.errors import RACED
from web4ai.k8s.writing import Writer
from web4ai.observability.metrics import OperatorMetrics, unregistered
from web4ai.operator.explaining import Explainer
from web4ai.operator.isolation import Isolation
from web4ai.operator.nodeviews import NodeViews
from web4ai.operator.routed import RoutingMemory, in_rounds, pass_routing

log = logging.getLogger(__name__)

# kube-scheduler's podMaxInUnschedulablePodsDuration: a task no event moved back is
# tried again after this long (what a missed event costs at most)
UNSCHEDULABLE_FLUSH = 300.0
FLUSH_CHECK = 30.0  # seconds between looks for such tasks (and for deleted ones)
DECIDE_CHUNK = 64  # decisions between two yields to the loop (writes start meanwhile)
FULL_PASS_EVERY = 0.5  # seconds: a pass with nothing noted still looks this often
RESYNC = 60.0  # seconds between looks at every node's view (what a missed event costs)
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
    queue: Unschedulable = field(default_factory=Unschedulable)
    _algorithm: Algorithm | None = None
    _balancer: Balancer | None = None
    _parsed: dict[str, tuple[str, Task]] = field(default_factory=dict)
    _limit: asyncio.Semaphore | None = None
    _writes: set[asyncio.Task[None]] = field(default_factory=set)
    _paused: bool = False  # as of the last pass; queued writes are not sent once paused
    # Something that can change a decision happened since the last pass (a task became
    # pending, an event moved tasks out of the unschedulable set, a write failed). Our
    # own bindings and explanations coming back do not count. A pass runs anyway
    # every FULL_PASS_EVERY seconds.
    _dirty: bool = True
    _looked_at: float = float("-inf")
    _flushed_at: float | None = None
    # assumed tasks the watch (or our writes) changed since the last pass: only their
    # assumptions can have expired; all of them are checked every FULL_PASS_EVERY
    _touched: set[str] = field(default_factory=set)
    _swept_at: float = float("-inf")
    _ring: Ring = field(default_factory=Ring)  # over every known node, remade when they change
    _ring_members: int = -1  # the node index's members count the ring was made at
    _routed: RoutingMemory = field(default_factory=RoutingMemory)
    _candidates_key: tuple[int, int, int] | None = None  # the change counts of the memo
    _candidates_memo: list[TaskBody] = field(default_factory=list)
    # every node's scheduling view and the open ones by capability and model, made
    # again per node by the watch hooks (a pass costs what its candidates cost)
    nodes: NodeViews = field(init=False)
    _resynced_at: float | None = None

    # the Scheduled=False conditions of the tasks in the unschedulable set
    explainer: Explainer = field(init=False)

    def __post_init__(self) -> None:
        self.nodes = NodeViews(self.state)
        self.explainer = Explainer(
            self.state, self.queue, self.guard, self.task, self._start, self._write_status
        )

    # -- the events (watch hooks, also of our own writes) ----------------------

    def subscribe(self) -> None:
        """Hook the scheduler to its state's watch events."""
        self.state.on_task_change.append(self.note_task)
        self.state.on_task_delete.append(self.note_task_deleted)
        self.state.on_node_change.append(self.note_node)
        self.state.on_orchestrator_change.append(self.note_settings)
        self.nodes.subscribe()

    def note_task(self, new: TaskBody, old: TaskBody | None) -> None:
        """Task hook: a new pending task needs a pass; a task leaving a node frees a slot."""
        name = bodies.name_of(new)
        if name in self.assumed.entries:  # only an assumption can expire (none on a standby)
            self._touched.add(name)
        phase = bodies.task_phase(new)
        if old is not None and bodies.task_phase(old).bound and not phase.bound:
            self._slot_freed(bodies.task_node(old))
        if phase not in PENDING:
            self._forget(name)
        elif (
            name not in self.queue
            or old is None
            or bodies.generation(new) != bodies.generation(old)
        ):
            self._forget(name)  # new, or its spec changed: decided again
            self._dirty = True

    def note_task_deleted(self, body: TaskBody) -> None:
        self._forget(bodies.name_of(body))
        if bodies.task_phase(body).bound:
            self._slot_freed(bodies.task_node(body))

    def note_node(self, new: NodeBody, old: NodeBody | None) -> None:
        """Node hook: the unschedulable tasks the node's new version could help."""
        if not self.queue or new["metadata"].get("deletionTimestamp"):
            return
        running = self.state.bound_on(bodies.node_id(new))
        before = None if old is None else bodies.node_from_body(old, running)
        after = bodies.node_from_body(new, running)
        self._moved(self.queue.node_changed(before, after, self.state.settings().thresholds))

    def note_settings(self, new: OrchestratorBody, old: OrchestratorBody | None) -> None:
        """Orchestrator hook: new settings (thresholds, paused) may help every task."""
        if old is None or new.get("spec") != old.get("spec"):
            self._moved(self.queue.move_all())

    def note(self, *_: object) -> None:
        """Anything else: every unschedulable task is tried again (also a new term)."""
        self._moved(self.queue.move_all())
        self._dirty = True

    def _slot_freed(self, node_id: str | None) -> None:
        if not node_id or not self.queue:
            return
        body = self.state.nodes_by_name.get(object_name(IdKind.NODE, node_id))
        if (
            body is None
            or bodies.node_id(body) != node_id
            or body["metadata"].get("deletionTimestamp")
        ):
            return
        view = bodies.node_from_body(body, self.state.bound_on(node_id))
        self._moved(self.queue.slot_freed(view, self.state.settings().thresholds))

    def _moved(self, names: list[str]) -> None:
        for name in names:
            self.explainer.forget(name)
        if names:
            self._dirty = True

    def _forget(self, name: str) -> None:
        self.queue.discard(name)
        self.explainer.forget(name)

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
            and name not in self.explainer.writing
            and self.guard.ready("bind", name)  # backing off after a failure
            and self._parsable(body)
        )

    async def run_once(self) -> int:
        """One pass: decide every pending task that may fit now and start its write;
        returns the number of bindings started (their writes complete in the background)."""
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
        # 2. Snapshot: pending tasks in order, minus the assumed ones and the
        #    unschedulable set (which only an event that could help, or the slow flush,
        #    moves back), then nodes with their bound counts plus the assumed bindings.
        #    While a backlog's writes are in flight every pending task is assumed or
        #    waiting for a slot: the pass ends here, cheaply.
        if now - self._swept_at >= FULL_PASS_EVERY:  # deleted tasks, too
            self._swept_at = now
            expired = self.assumed.expire(self._cached_version)
        else:
            expired = self.assumed.expire(self._cached_version, self._touched)
        self._touched.clear()
        for assumption in expired:
            self._slot_freed(assumption.node_id)
        self._flush(now)
        pending = sorted(
            (b for b in self._candidates() if self._waiting(b)),
            key=lambda b: self.task(b).order,
        )
        if len(self._parsed) > 2 * (len(pending) + len(self.queue) + len(self.assumed)) + 1000:
            keep = {bodies.name_of(b) for b in pending} | self.queue.entries.keys()
            self._parsed = {
                k: v for k, v in self._parsed.items() if k in keep or k in self.assumed.entries
            }
        if not pending and not self.explainer.due(now):
            return 0
        # The nodes: the index made again where events marked it (every node now and
        # then), with the assumed bindings counted on top, in this pass's own views.
        if self._resynced_at is None or now - self._resynced_at >= RESYNC:
            self._resynced_at = now
            self.nodes.resync()
        index = self.nodes.refresh()
        assumed: dict[str, Node] = {}
        for node_id, count in self.assumed.counts().items():
            view = index.views.get(node_id)
            if view is not None:
                assumed[node_id] = replace(view, running=view.running + count)
        views = Views(index, assumed)
        started = time.perf_counter()
        unschedulable: list[Task] = []
        # 3. Routing (web4ai.core.routing) unless model_aware_routing is off or no
        #    pending task names a model or a key: it would decide nothing then (every
        #    task goes to the algorithm, in one round), and making it looks at every
        #    node's agents: the ring, remade when a node came or went.
        routing = None
        tasks = [self.task(b) for b in pending] if settings.model_aware_routing else []
        if any(t.requirements.routed for t in tasks):
            if self._ring_members != index.members:
                self._ring.update(set(index.views))  # the points of those that came or went
                self._ring_members = index.members
            routing = pass_routing(
                self._ring,
                self.state,
                self.assumed,
                Views(index, assumed, index.schedulable),
                tasks,
                now,
                self._routed,
            )
        # 4. Decide in order; a slot taken by one decision is gone for the next. With
        #    optimization on and a node over the thresholds (the load_rebalancing
        #    advice), underloaded nodes are preferred. Each binding's write starts at
        #    once; the loop yields now and then so that writes go out while deciding.
        #    Tasks that need the same (``needs``) and found no node are not tried twice.
        #    Routing's first round places what goes warm (or to its key's node) only.
        #    Only the open nodes that have the task's rarest need are looked at.
        rebalance = settings.optimization_enabled and index.any_overloaded(settings.thresholds)
        no_fit: set[Task] = set()
        binds = 0
        for body, warm_only in in_rounds(pending, routing, self.task, self.assumed):
            task = self.task(body)
            key = needs(task)
            decision = None
            if key not in no_fit:
                decision = pick_open(
                    task,
                    index,
                    views,
                    settings.thresholds,
                    balancer,
                    optimize=rebalance,
                    routing=routing,
                )
            if decision is None or decision.node_id is None:
                if warm_only:
                    continue
                if decision is not None and decision.deferred:  # for a warm agent, a while
                    self._routed.deferred(task.name, now)
                    self._dirty = True  # tried again at the next pass
                    continue
                no_fit.add(key)
                unschedulable.append(task)
                continue
            node = views[decision.node_id]
            node = replace(node, running=node.running + 1)
            views.changed[node.node_id] = node
            if routing is not None:
                routing.place(node.node_id, task.requirements)
                self._routed.decided(task.name)
            self.assumed.assume(bodies.name_of(body), node.node_id, bodies.resource_version(body))
            self._start(self._bind(body, node.node_id, now, decision.message))
            binds += 1
            if binds % DECIDE_CHUNK == 0:
                await asyncio.sleep(0)
        # 5. The rest waits in the unschedulable set. Say why (Queued when every node is
        #    merely full) when the condition does not say so already, a bounded number
        #    at a time and in the background, so that explaining never delays binding.
        for task in unschedulable:
            self.queue.add(task, now)
        self.explainer.added([t.name for t in unschedulable])
        self.explainer.some(views, settings.thresholds, now)
        self.metrics.schedule_attempts.labels("unschedulable").inc(len(unschedulable))
        self.metrics.attempt_duration.observe(time.perf_counter() - started)
        return binds

    def _candidates(self) -> list[TaskBody]:
        """The pending tasks not skipped (assumed or unschedulable), made again only when
        an input changed: else 20,000 unschedulable tasks are scanned twice a second."""
        key = (self.state.changes_in(*PENDING), self.queue.changes, self.assumed.changes)
        if key != self._candidates_key:
            self._candidates_key = key
            self._candidates_memo = self.state.tasks_with(*PENDING, excluding=self._skipped())
        return self._candidates_memo

    def _skipped(self) -> Collection[str]:
        """The pending tasks a pass does not decide: assumed, or in the unschedulable set."""
        if not self.assumed.entries:
            return self.queue.entries.keys()
        if not self.queue:
            return self.assumed.entries.keys()
        return self.queue.entries.keys() | self.assumed.entries.keys()

    def _flush(self, now: float) -> None:
        """Now and then: what waited longer than UNSCHEDULABLE_FLUSH is tried again, and
        what is no longer pending (deleted meanwhile) leaves the set."""
        if self._flushed_at is None:
            self._flushed_at = now
        if now - self._flushed_at < FLUSH_CHECK:
            return
        self._flushed_at = now
        self._moved(
            self.queue.flush(now - UNSCHEDULABLE_FLUSH, lambda n: self.state.phase_of(n) in PENDING)
        )
        self.explainer.prune()

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

    async def _bind(self, body: TaskBody, node_id: str, now: float, why: str = "") -> None:
        name, version = bodies.name_of(body), bodies.resource_version(body)
        if self._limit is None:
            self._limit = asyncio.Semaphore(self.max_in_flight)
        freed = True
        try:
            async with self._limit:
                # decided a while ago? not leading any more, paused, or the task moved
                # on (the guarded write would only conflict): do not send it
                if not self.active() or self._paused or self._cached_version(name) != version:
                    self.metrics.schedule_attempts.labels("conflict").inc()
                    self._dirty = True  # decided again on the next pass
                    return
                result = await self.guard.run(
                    "bind",
                    name,
                    self._write_status,
                    name,
                    patches.bind_patch(body, node_id, now, why),
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
            self.bound += 1
            freed = False
        finally:
            self.assumed.forget(name, version)
            if freed:  # not bound: its slot is free again
                self._slot_freed(node_id)
            self.state.changed.set()  # a failed write frees its slot for the next pass

    async def _write_status(self, name: str, patch: Patch) -> Body | None:
        """The patched task, or None when someone acted first or it is gone (a lost
        race is no failure: the watch brings the new version)."""
        try:
            return await self.writer.patch(TASKS, name, patch, status=True)
        except RACED:
            return None
