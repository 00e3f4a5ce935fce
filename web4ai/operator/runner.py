"""Wiring the controllers together: informers, leader election and the reconcile loop."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from web4ai.k8s import resources as res
from web4ai.k8s.cache import ClusterState
from web4ai.k8s.client import ApiClient, api_client
from web4ai.k8s.watching import Body
from web4ai.k8s.writing import Writer
from web4ai.observability.metrics import ClusterCollector, OperatorMetrics, unregistered
from web4ai.operator.accounting import Accounting
from web4ai.operator.callbacks import CallbackSender, needs_callback
from web4ai.operator.discovery import Discovery
from web4ai.operator.isolation import Isolation
from web4ai.operator.leader import LeaderElector
from web4ai.operator.liveness import Liveness
from web4ai.operator.scheduler import Scheduler
from web4ai.operator.timekeeping import Timekeeper
from web4ai.operator.upgrading import Upgrader

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OperatorOptions:
    namespace: str
    kubeconfig: str | None = None
    identity: str = field(
        default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    )
    lease_duration: float = 15.0
    retry_period: float = 2.0
    tick: float = 0.5
    api_url: str | None = None  # sent to discovered nodes in their join
    bind_in_flight: int = 32  # binding writes in flight at once


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
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        ns = self.options.namespace
        self.metrics.instrument(self.api)
        self.state = ClusterState(self.api, ns)
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
        self.callbacks = CallbackSender(self.state, self.writer, self.clock, metrics=self.metrics)
        self.accounting = Accounting(self.state, self.writer, self.clock, guard=self.guard)
        self.upgrader = Upgrader(self.state, self.writer)
        self.discovery = Discovery(self.state, self.writer, self.clock, self.options.api_url)
        self.state.on_task_change.append(self.scheduler.note_task)
        self.state.on_node_change.append(self.scheduler.note)
        self.state.on_orchestrator_change.append(self.scheduler.note)
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

    def _task_changed(self, new: Body, old: Body | None) -> None:
        if self.leader.is_leader and needs_callback(new):
            self.callbacks.enqueue(res.name_of(new))

    def start(self) -> None:
        coros = [i.run() for i in self.state.informers] + [self.leader.run(), self._loop()]
        self._tasks = [asyncio.create_task(c) for c in coros]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
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
        await self.state.wait_synced()
        term = 0
        was_leading = False
        while True:
            await self._wait_for_change()
            leading = self.leader.leading()
            if self.leader.changed.is_set():
                self.leader.changed.clear()
            if not leading:
                was_leading = False
                continue
            if term != self.leader.term:  # a new term, not a renewal after a slow moment
                term = self.leader.term
                self.accounting.reset()
                self.liveness.hold("operator started or became leader")
                self.upgrader.note_all()  # objects an earlier version wrote
            if not was_leading:
                # leadership (re)gained, in a new term or in our own: tasks that finished
                # while we were not leading had their callbacks queued by nobody
                self.callbacks.scan()
                was_leading = True
            await self._pass()

    async def _pass(self) -> None:
        """One reconcile pass. Each step handles its objects one by one (see
        ``Isolation``); a step that fails as a whole is logged and backs off on its
        own, and never stops the steps after it."""
        # clocks and leases need a look every tick, not on every watch event
        if self.clock() - self._housekept >= self.options.tick:
            self._housekept = self.clock()
            await self.guard.run("step", "liveness", self.liveness.run_once)
            await self.guard.run("step", "timekeeping", self.timekeeper.run_once)
            try:
                self.discovery.tick()  # probes run in the background
            except Exception:
                log.exception("discovery tick failed")
        await self.guard.run("step", "upgrade", self.upgrader.run_once)
        await self.guard.run("step", "scheduling", self.scheduler.run_once)
        await self.guard.run("step", "accounting", self.accounting.flush)
        if self.clock() - self._retired_at >= self.retire_every:
            self._retired_at = self.clock()
            await self.guard.run("step", "retention", self.accounting.retire)
        self.passes += 1
