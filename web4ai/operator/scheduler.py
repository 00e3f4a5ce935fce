"""The scheduling pass: pending tasks onto nodes, one guarded write per binding."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from web4ai.core.model import Algorithm, Node, Task, TaskPhase
from web4ai.core.recommending import overloaded
from web4ai.core.scheduling import BALANCERS, SCHEDULABLE, Balancer, only_capacity, pick_node
from web4ai.k8s import resources as res
from web4ai.k8s.cache import ClusterState
from web4ai.k8s.watching import Body
from web4ai.k8s.writing import Writer
from web4ai.observability.metrics import OperatorMetrics, unregistered
from web4ai.operator.isolation import Isolation

log = logging.getLogger(__name__)

CONDITION_REFRESH = 10.0  # seconds between rewrites of a changing Unschedulable message
EXPLAIN_PER_PASS = 32


@dataclass
class Scheduler:
    state: ClusterState
    writer: Writer
    clock: Callable[[], float]
    max_in_flight: int = 32
    guard: Isolation = field(default_factory=Isolation)
    metrics: OperatorMetrics = field(default_factory=unregistered)
    bound: int = 0
    _algorithm: Algorithm | None = None
    _balancer: Balancer | None = None
    _condition_written: dict[str, float] = field(default_factory=dict)
    _parsed: dict[str, tuple[str, Task]] = field(default_factory=dict)

    def task(self, body: Body) -> Task:
        """The task of a body, parsed once per resourceVersion."""
        name, version = res.name_of(body), res.resource_version(body)
        hit = self._parsed.get(name)
        if hit is None or hit[0] != version:
            hit = (version, res.task_from_body(body))
            self._parsed[name] = hit
        return hit[1]

    def _parsable(self, body: Body) -> bool:
        """Whether the task can be read; one that cannot is logged and left alone."""
        try:
            self.task(body)
        except Exception as exc:
            name = res.name_of(body)
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

    async def run_once(self) -> int:
        """One pass; returns the number of tasks bound."""
        # 1. Paused orchestrators assign nothing.
        settings = self.state.settings()
        if settings.paused:
            return 0
        balancer = self.balancer(settings.algorithm)
        # 2. Snapshot: nodes with their bound counts, pending tasks in order.
        views = self.state.node_views()
        pending = sorted(
            (
                b
                for b in self.state.tasks_with(TaskPhase.QUEUED, TaskPhase.RETRYING)
                if not b["metadata"].get("deletionTimestamp")
                and self.guard.ready("bind", res.name_of(b))  # backing off after a failure
                and self._parsable(b)
            ),
            key=lambda b: self.task(b).order,
        )
        pending_names = {res.name_of(b) for b in pending}
        self._condition_written = {
            k: v for k, v in self._condition_written.items() if k in pending_names
        }
        if len(self._parsed) > 2 * len(pending_names) + 1000:
            self._parsed = {k: v for k, v in self._parsed.items() if k in pending_names}
        if not pending:
            return 0
        started = time.perf_counter()
        now = self.clock()
        binds: list[tuple[Body, str]] = []
        unschedulable: list[tuple[Body, str]] = []
        # 3. Decide in order; a slot taken by one decision is gone for the next. With
        #    optimization on and a node over the thresholds (the load_rebalancing
        #    advice), underloaded nodes are preferred.
        rebalance = settings.optimization_enabled and any(
            v.status in SCHEDULABLE and overloaded(v, settings.thresholds) for v in views.values()
        )
        open_nodes: dict[str, Node] = {
            k: v for k, v in views.items() if v.status in SCHEDULABLE and v.free_slots > 0
        }
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
                # explain against every node, not only the open ones
                message = (
                    pick_node(task, list(views.values()), settings.thresholds, balancer).message
                    or "waiting for a free slot"
                )
                unschedulable.append((body, message))
                continue
            node = open_nodes[decision.node_id]
            node = replace(node, running=node.running + 1)
            views[node.node_id] = node
            if node.free_slots > 0:
                open_nodes[node.node_id] = node
            else:
                del open_nodes[node.node_id]
            binds.append((body, node.node_id))
        # 4. Write the bindings, each guarded by the resourceVersion we decided on.
        bound = await self._bind_all(binds, now)
        # 5. Say why the rest waits (Queued when every node is merely full), a bounded
        #    number per pass and concurrently, so that explaining never delays binding.
        todo = []
        for body, message in unschedulable:
            patch = self._explanation(body, message, now)
            if patch is not None:
                todo.append(self._explain(res.name_of(body), patch, now))
            if len(todo) >= EXPLAIN_PER_PASS:
                break
        await asyncio.gather(*todo)
        self.bound += bound
        self.metrics.schedule_attempts.labels("unschedulable").inc(len(unschedulable))
        self.metrics.attempt_duration.observe(time.perf_counter() - started)
        return bound

    async def _bind_all(self, binds: list[tuple[Body, str]], now: float) -> int:
        limit = asyncio.Semaphore(self.max_in_flight)

        async def bind(body: Body, node_id: str) -> bool:
            name = res.name_of(body)
            async with limit:
                result = await self.guard.run(
                    "bind",
                    name,
                    lambda: self.writer.patch(
                        res.TASKS, name, res.bind_patch(body, node_id, now), status=True
                    ),
                )
            if result is None:
                self.metrics.schedule_attempts.labels("conflict").inc()
                return False  # someone acted first; the watch brings the new version
            self.metrics.schedule_attempts.labels("scheduled").inc()
            self.metrics.queue_wait.observe(max(0.0, now - res.submitted_at(body)))
            ids = {"task_id": body["spec"].get("taskId"), "node_id": node_id}
            log.debug("task bound to node %s", node_id, extra=ids)
            self.state.record_task(result)
            self._condition_written.pop(res.name_of(body), None)
            return True

        results = await asyncio.gather(*(bind(b, n) for b, n in binds))
        return sum(results)

    def _explanation(self, body: Body, message: str, now: float) -> Body | None:
        """The condition patch to write for a waiting task, or None (said already/recently)."""
        last = self._condition_written.get(res.name_of(body))
        if last is not None and now - last < CONDITION_REFRESH:
            return None
        reason = "Queued" if only_capacity(message) else "Unschedulable"
        return res.unschedulable_patch(body, message, now, reason)

    async def _explain(self, name: str, patch: Body, now: float) -> None:
        result = await self.guard.run(
            "explain", name, lambda: self.writer.patch(res.TASKS, name, patch, status=True)
        )
        self._condition_written[name] = now
        if result is not None:
            self.state.record_task(result)
