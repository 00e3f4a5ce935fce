"""Wiring the controllers together: the stores the feeds fill, leader election and the
leader-gated passes.

Kopf (``web4ai/operator/__main__.py``) calls ``observe`` for every event of the
orchestrator, and runs ``run`` as the daemon of the singleton Web4AIOrchestrator: it
owns the task, node and node Lease feeds (lean lists + watches, see
``web4ai.k8s.listwatch``), the leader election and the passes, until Kopf stops it. A
Lease renewal wakes no pass: liveness looks a tenth of a heartbeat interval, at the
Leases that may have expired by then. The nodes were Kopf's
once: its handling of each event (a deep copy of the body, its diff base, its causes)
cost more than the rest of the operator's work at 3,000 nodes (README, "Scaling")."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from web4ai.core import bodies
from web4ai.core.crs import TaskBody
from web4ai.core.model import UNFINISHED_TASKS
from web4ai.core.resources import LEASES, NODES, ORCHESTRATORS, TASKS, Resource
from web4ai.k8s.cache import LEASE_SELECTOR, ClusterState
from web4ai.k8s.client import ApiClient, api_client
from web4ai.k8s.listwatch import ListWatch, listed, listed_names
from web4ai.k8s.orchestrator import ensure_orchestrator
from web4ai.k8s.store import Body, Store
from web4ai.k8s.writing import Writer
from web4ai.observability.metrics import ClusterCollector, OperatorMetrics, unregistered
from web4ai.operator.accounting import RETIRE_BATCH, Accounting
from web4ai.operator.callbacks import CallbackSender, needs_callback
from web4ai.operator.discovery import Discovery
from web4ai.operator.isolation import Isolation
from web4ai.operator.leader import LeaderElector
from web4ai.operator.liveness import Liveness
from web4ai.operator.scheduler import BIND_IN_FLIGHT, Scheduler
from web4ai.operator.timekeeping import Timekeeper
from web4ai.operator.upgrading import Upgrader

log = logging.getLogger(__name__)


def default_identity(environ: Mapping[str, str]) -> str:
    """The leader-election identity: the pod's name (POD_NAME, from the downward API) or
    the hostname, then the pid and a random suffix. A host-network pod's hostname is its
    node's, so only POD_NAME tells which replica holds the Lease."""
    who = environ.get("POD_NAME") or socket.gethostname()
    return f"{who}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class OperatorOptions:
    namespace: str
    kubeconfig: str | None = None
    identity: str = field(default_factory=lambda: default_identity(os.environ))
    lease_duration: float = 15.0
    retry_period: float = 2.0
    tick: float = 0.5
    api_url: str | None = None  # sent to discovered nodes in their join
    bind_in_flight: int = BIND_IN_FLIGHT  # binding writes in flight at once


class Stopping(Protocol):
    """Kopf's ``stopped`` flag of a daemon (any object with an awaitable ``wait``)."""

    async def wait(self) -> object: ...


class JobFailed(RuntimeError):
    """A job of the daemon (task feed, election, passes) ended by itself."""


LISTING_WAIT = 2.0  # seconds to wait for Kopf to deliver a listing before listing again
LISTING_POLL = 0.02
# Kopf relists after a watch gap (an expired resourceVersion, a dropped connection)
# but sends no DELETED for what vanished meanwhile; a list this often finds those
SWEEP_EVERY = 60.0
LIVENESS_LOOKS = 10  # liveness looks per heartbeat interval (at most one a tick)
RETIRE_AGAIN = 1.0  # seconds to the next retention round after a full batch (a burst)
SETTLE_TIMEOUT = 5.0  # seconds to write the paced node counters when stepping down

Lister = Callable[[Resource, str | None], Awaitable[tuple[set[str], str]]]


@dataclass
class Operator:
    options: OperatorOptions
    api: ApiClient
    clock: Callable[[], float] = time.time
    metrics: OperatorMetrics = field(default_factory=unregistered)
    state: ClusterState = field(init=False)
    writer: Writer = field(init=False)
    leader: LeaderElector = field(init=False)
    scheduler: Scheduler = field(init=False)
    liveness: Liveness = field(init=False)
    timekeeper: Timekeeper = field(init=False)
    callbacks: CallbackSender = field(init=False)
    accounting: Accounting = field(init=False)
    upgrader: Upgrader = field(init=False)
    discovery: Discovery = field(init=False)
    guard: Isolation = field(init=False)
    retire_every: float = 5.0
    passes: int = 0
    _retired_at: float = 0.0
    _housekept: float = 0.0
    _lively: float = 0.0
    _running: asyncio.Task[None] | None = None  # the daemon's run, while Kopf runs it
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        ns = self.options.namespace
        self.metrics.instrument(self.api)
        self.state = ClusterState.fed(ns)
        self.writer = Writer(self.api, ns)
        self.leader = LeaderElector(
            self.api,
            ns,
            self.options.identity,
            self.clock,
            lease_duration=self.options.lease_duration,
            retry_period=self.options.retry_period,
        )
        self.guard = Isolation(self.clock)
        self.scheduler = Scheduler(
            self.state,
            self.writer,
            self.clock,
            guard=self.guard,
            metrics=self.metrics,
            max_in_flight=self.options.bind_in_flight,
            active=lambda: self.leader.is_leader,
        )
        self.liveness = Liveness(
            self.state, self.writer, self.clock, guard=self.guard, metrics=self.metrics
        )
        self.timekeeper = Timekeeper(self.state, self.writer, self.clock, guard=self.guard)
        self.timekeeper.subscribe()
        self.callbacks = CallbackSender(self.state, self.writer, self.clock, metrics=self.metrics)
        self.accounting = Accounting(self.state, self.writer, self.clock, guard=self.guard)
        self.upgrader = Upgrader(self.state, self.writer)
        self.discovery = Discovery(self.state, self.writer, self.clock, self.options.api_url)
        self.scheduler.subscribe()
        self.state.on_task_change.append(self._task_changed)
        self.state.on_task_change.append(self.accounting.task_changed)
        self.state.on_task_change.append(self.upgrader.task_changed)
        self.state.on_node_change.append(self.accounting.node_changed)
        self.state.on_task_change.append(
            lambda new, old: self.metrics.task_changed(new, old, self.leader.is_leader)
        )
        self.metrics.leader.set_function(lambda: 1.0 if self.leader.is_leader else 0.0)
        self.metrics.registry.register(
            ClusterCollector(self.state, lambda: self.leader.is_leader, self.clock)
        )

    @classmethod
    async def create(
        cls, options: OperatorOptions, metrics: OperatorMetrics | None = None
    ) -> Operator:
        api = await api_client(options.kubeconfig)
        return cls(options, api, metrics=metrics or unregistered())

    def _task_changed(self, new: TaskBody, old: TaskBody | None) -> None:
        if self.leader.is_leader and needs_callback(new):
            self.callbacks.enqueue(bodies.name_of(new))

    # -- fed by Kopf's event handlers (they write nothing) -------------------

    def _kopf_fed(self) -> dict[Resource, tuple[Store, str | None]]:
        return {ORCHESTRATORS: (self.state.orchestrators, None)}

    def observe(self, resource: Resource, kind: str | None, body: Body) -> None:
        """A Kopf event of the orchestrator into its store; its hooks run and the passes
        wake (``kind`` None: Kopf's initial listing)."""
        store = self._kopf_fed()[resource][0]
        store.apply_event(kind or "ADDED", body)

    async def _await_listing(self, store: Store, resource: Resource, selector: str | None) -> None:
        """Kopf has no signal for "listed"; the store is synced once it holds every object
        a list shows (listed again if one is deleted before Kopf delivers it)."""
        while not store.synced.is_set():
            try:
                names = await listed_names(self.api, resource, self.options.namespace, selector)
            except Exception as exc:
                log.warning("%s: cannot list (%s); again in 1s", resource.plural, exc)
                await asyncio.sleep(1.0)
                continue
            for _ in range(round(LISTING_WAIT / LISTING_POLL)):
                if not names - store.store.keys():
                    store.mark_synced()
                    break
                await asyncio.sleep(LISTING_POLL)

    async def sweep(self, lister: Lister | None = None) -> dict[Resource, list[str]]:
        """Drop from the Kopf-fed stores what a fresh list no longer shows (a deletion
        Kopf missed in a watch gap); returns the names dropped per resource. The hooks
        run as for a deletion, so the passes stop counting a ghost node."""
        lister = lister or (lambda r, sel: listed(self.api, r, self.options.namespace, sel))
        dropped: dict[Resource, list[str]] = {}
        for resource, (store, selector) in self._kopf_fed().items():
            plural = resource.plural
            if not store.synced.is_set():
                continue  # still listing: nothing to compare with yet
            try:
                names, version = await lister(resource, selector)
            except Exception as exc:
                log.warning("%s: cannot list for the sweep (%s)", plural, exc)
                continue
            gone = store.sweep(names, version)
            if gone:
                log.warning(
                    "%s: %d deleted during a watch gap, dropped: %s",
                    plural,
                    len(gone),
                    ", ".join(sorted(gone)[:10]),
                )
                dropped[resource] = gone
        return dropped

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_EVERY)
            try:
                await self.sweep()
            except Exception:  # a failing sweep must not end the daemon's other jobs
                log.exception("sweep failed; again in %.0fs", SWEEP_EVERY)

    async def ensure_orchestrator(self) -> None:
        """The singleton Web4AIOrchestrator carries the settings and the daemon: created
        with the defaults when missing (``web4ai.k8s.orchestrator``, as the API does at
        its start). A failure is logged, not raised: the passes start once it exists."""
        try:
            await ensure_orchestrator(self.writer, self.state)
        except Exception as exc:  # e.g. RBAC: in a cluster the chart or the API makes it
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            log.warning(
                "no Web4AIOrchestrator yet, and cannot create it (%s): the passes start "
                "once it exists",
                reason,
            )

    # -- the Kopf daemon -------------------------------------------------------

    async def run(self, stopped: Stopping) -> None:
        """The daemon of the singleton orchestrator: the task feed, the leader election and
        the leader-gated passes, until Kopf stops the daemon or ``stop`` is called. Raises
        ``JobFailed`` if one of them ends by itself (Kopf then starts the daemon again)."""
        self._stop.clear()
        self._running = asyncio.current_task()
        ns = self.options.namespace
        tasks = ListWatch(self.api, TASKS, ns, self.state.tasks, first=UNFINISHED_TASKS)
        nodes = ListWatch(self.api, NODES, ns, self.state.nodes)
        leases = ListWatch(self.api, LEASES, ns, self.state.leases, label_selector=LEASE_SELECTOR)
        jobs = {
            asyncio.create_task(tasks.run(), name="task feed"),
            asyncio.create_task(nodes.run(), name="node feed"),
            asyncio.create_task(leases.run(), name="node Lease feed"),
            asyncio.create_task(self.leader.run(), name="leader election"),
            asyncio.create_task(self._loop(), name="passes"),
            asyncio.create_task(self._sweep_forever(), name="sweep"),
        }
        listing = [
            asyncio.create_task(self._await_listing(store, resource, selector))
            for resource, (store, selector) in self._kopf_fed().items()
        ]
        until = {asyncio.ensure_future(stopped.wait()), asyncio.ensure_future(self._stop.wait())}
        try:
            await asyncio.wait(until | jobs, return_when=asyncio.FIRST_COMPLETED)
            ended = [job for job in jobs if job.done()]
            if ended and not any(u.done() for u in until):
                raise JobFailed(f"{ended[0].get_name()} ended: {ended[0].exception()!r}")
        finally:
            for job in [*jobs, *listing, *until]:
                job.cancel()
            await asyncio.gather(*jobs, *listing, *until, return_exceptions=True)
            # no write decided while leading goes out after we let go of the lease
            await self.scheduler.close()
            await self._settle_counters()
            await self.leader.release()
            self._running = None

    async def _settle_counters(self) -> None:
        """Stepping down: the node counters observed and not yet written (they are paced)
        are written now, within a few seconds, rather than left to be lost."""
        if not self.leader.is_leader:
            return
        try:
            await asyncio.wait_for(self.accounting.flush(force=True), SETTLE_TIMEOUT)
        except Exception as exc:
            log.warning("node counters not written on stepping down: %r", exc)

    async def stop(self) -> None:
        """Stop the daemon's work (if running) and close everything (process exit)."""
        running = self._running
        if running is not None:
            self._stop.set()
            await asyncio.gather(running, return_exceptions=True)
        await self.scheduler.close()
        await self.callbacks.close()
        await self.discovery.close()
        await self.leader.release()
        await self.api.close()

    @property
    def ready(self) -> bool:
        return self.state.synced

    async def _wait_for_change(self) -> None:
        changed = asyncio.ensure_future(self.state.changed.wait())
        leadership = asyncio.ensure_future(self.leader.changed.wait())
        try:
            await asyncio.wait(
                {changed, leadership},
                timeout=self.options.tick,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            changed.cancel()
            leadership.cancel()
        self.state.changed.clear()

    async def _loop(self) -> None:
        # the unfinished tasks are enough to schedule, time and requeue; what reads the
        # finished ones (callbacks, upgrades, retention) waits for the whole list below
        await self.state.wait_primed()
        term = 0
        # callbacks and upgrades looked for in the whole list since leading (again)
        scanned = False
        while True:
            await self._wait_for_change()
            leading = self.leader.leading()
            if self.leader.changed.is_set():
                self.leader.changed.clear()
            if not leading:
                scanned = False
                continue
            if term != self.leader.term:  # a new term, not a renewal after a slow moment
                term = self.leader.term
                self.accounting.reset()
                self.scheduler.note()  # what an earlier term set aside is tried again
                self.liveness.hold("operator started or became leader")
                scanned = False
            if not scanned and self.state.tasks.synced.is_set():
                # leadership (re)gained, in a new term or in our own: tasks that finished
                # while we were not leading had their callbacks queued by nobody, and
                # objects an earlier version wrote are upgraded
                self.callbacks.scan()
                self.upgrader.note_all()
                scanned = True
            await self._pass()

    async def _pass(self) -> None:
        """One reconcile pass. Each step handles its objects one by one (see
        ``Isolation``); a step that fails as a whole is logged and backs off on its
        own, and never stops the steps after it."""
        # clocks and leases need a look every tick, not on every watch event; the Leases
        # a tenth of a heartbeat interval at most (those that may have expired by then)
        now = self.clock()
        if now - self._housekept >= self.options.tick:
            self._housekept = now
            if now - self._lively >= self.state.heartbeat_interval() / LIVENESS_LOOKS:
                self._lively = now
                await self.guard.run("step", "liveness", self.liveness.run_once)
            await self.guard.run("step", "timekeeping", self.timekeeper.run_once)
            try:
                self.discovery.tick()  # probes run in the background
            except Exception:
                log.exception("discovery tick failed")
        await self.guard.run("step", "upgrade", self.upgrader.run_once)
        await self.guard.run("step", "scheduling", self.scheduler.run_once)
        await self.guard.run("step", "accounting", self.accounting.flush)
        # retention picks the oldest finished of all: not from part of the list
        whole = self.state.tasks.synced.is_set()
        if whole and self.clock() - self._retired_at >= self.retire_every:
            self._retired_at = self.clock()
            if await self.guard.run("step", "retention", self.accounting.retire) == RETIRE_BATCH:
                self._retired_at -= self.retire_every - RETIRE_AGAIN  # more to do: soon
        self.passes += 1
