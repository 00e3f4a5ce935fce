"""Node life cycle: lease expiry -> offline, requeue of a lost node's tasks, and the
deletion finalizer.

A look runs ten times per heartbeat interval and costs what changed, not every node
(``web4ai.operator.livenessindex``): the nodes whose Lease may have expired by now,
the draining and the deleted nodes, and the bound tasks of lost nodes. Every
``SWEEP_EVERY`` seconds the index is made anew from the stores and the look is a full
one, so that nothing a hook missed is missed for long."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from web4ai.core import bodies, patches
from web4ai.core.crs import Body, NodeBody, TaskBody
from web4ai.core.disruption import DisruptionGuard
from web4ai.core.ids import IdKind, InvalidId, node_lease_name, object_name
from web4ai.core.lifecycle import MISSED_HEARTBEATS, lease_expired
from web4ai.core.model import NodeStatus, TaskPhase
from web4ai.core.objects import lease_object
from web4ai.core.resources import LEASES, NODES, TASKS
from web4ai.k8s.cache import ClusterState
from web4ai.k8s.errors import RACED, Conflict
from web4ai.k8s.writing import Writer
from web4ai.observability.metrics import OperatorMetrics, unregistered
from web4ai.operator.isolation import Isolation
from web4ai.operator.livenessindex import LivenessIndex

log = logging.getLogger(__name__)

NODE_LOST = "Node became unavailable"
SWEEP_EVERY = 60.0  # s: a full look (the index made anew) at least this often
# a node falls due this much before its Lease expires: the sum renewTime + 3 intervals,
# rounded, must not put it after the first look that finds it expired
EARLY = 1e-6


@dataclass
class Liveness:
    state: ClusterState
    writer: Writer
    clock: Callable[[], float]
    metrics: OperatorMetrics = field(default_factory=unregistered)
    guard: Isolation = field(default_factory=Isolation)
    disruption: DisruptionGuard = field(default_factory=DisruptionGuard)
    index: LivenessIndex = field(init=False, repr=False)
    _holding_logged: bool = False
    # the longest min_heartbeat_interval nodes were told lately, and until when it holds
    _told: tuple[float, float] = (0.0, float("-inf"))
    _swept: float | None = None  # when the index was last made anew (None: never)
    _widest: float = 0.0  # the longest interval a node's due time was made with

    def __post_init__(self) -> None:
        self.index = LivenessIndex(self.state)
        self.index.subscribe()

    def hold(self, reason: str) -> None:
        """No node goes offline for the grace period (operator start, new leadership)."""
        self.disruption.hold(self.clock(), reason)

    def _may_mark_offline(self, now: float, interval: float, silent: int) -> bool:
        """``silent``: the watched nodes (Ready, not being deleted) whose Lease expired."""
        settings = self.state.settings()
        watched = len(self.index.watched)
        grace = settings.disruption_grace_intervals * interval
        allowed = self.disruption.may_mark_offline(
            silent, watched, now, settings.disruption_threshold, grace
        )
        if not allowed and silent and not self._holding_logged:
            log.warning(
                "disruption mode: %d/%d nodes silent, none goes offline for %.0fs (%s)",
                silent,
                watched,
                self.disruption.holding_until(grace) - now,
                self.disruption.reason,
            )
        self._holding_logged = not allowed and silent > 0
        return allowed

    def interval(self, now: float) -> float:
        """The heartbeat interval liveness allows: ``heartbeat_interval`` as set now, or
        longer while the cluster's size spreads heartbeats out: the longest
        ``min_heartbeat_interval`` told within the last three such intervals (a node told
        it before the cluster shrank still beats at that pace for a while)."""
        floor = self.state.min_heartbeat_interval()
        longest, until = self._told
        if floor >= longest or now > until:
            self._told = (floor, now + 3 * floor)
        else:
            floor = longest
        return max(self.state.settings().heartbeat_interval, floor)

    def _expired(self, now: float, interval: float, full: bool) -> list[NodeBody]:
        """The watched nodes whose Lease expired by ``now``: of the nodes due (every
        watched node when ``full``), those expired are due again at once (offline by the
        next look, or held by the disruption guard: counted again), the others when
        their Lease would expire."""
        index, nodes, out = self.index, self.state.nodes_by_name, list[NodeBody]()
        names = [n for n in nodes if n in index.watched] if full else index.due.pop_due(now)
        times: dict[str, float] = {}
        for name in names:
            body = nodes.get(name)
            if body is None or name not in index.watched:
                continue
            renewed = self.state.lease_renewed(body)
            if renewed is None or lease_expired(renewed, interval, now):
                out.append(body)
                times[name] = now
            else:
                times[name] = renewed + MISSED_HEARTBEATS * interval - EARLY
        if full:
            index.due.replace_all(times)
        else:
            for name, at in times.items():
                index.due.schedule(name, at)
        return out

    def _refresh(self, now: float, interval: float) -> bool:
        """The index anew at the first look and every ``SWEEP_EVERY``; True when every
        watched node is to be looked at: then, and when the interval shrank (due times
        made with a longer one are late; with a shorter one they are early, which costs
        a look and no more)."""
        full = False
        if self._swept is None or not 0.0 <= now - self._swept < SWEEP_EVERY:
            self._swept = now
            self.index.rebuild()
            full = True
        full = full or interval < self._widest
        self._widest = interval
        return full

    async def run_once(self) -> None:
        now = self.clock()
        interval = self.interval(now)
        expired = self._expired(now, interval, self._refresh(now, interval))
        may_mark_offline = self._may_mark_offline(now, interval, len(expired))
        # 1. Nodes whose lease expired are no longer Ready: offline, unless an admin's
        #    intent (maintenance, offline) holds their status, with an Event.
        for body in expired if may_mark_offline else []:
            renewed = self.state.lease_renewed(body)
            if not lease_expired(renewed, interval, now):
                continue
            fields = patches.node_status_fields(body, now, alive=False)
            fields["conditions"] = patches.set_condition(
                bodies.status_of(body).get("conditions"),
                patches.condition(
                    "Ready",
                    False,
                    "HeartbeatMissed",
                    f"no heartbeat for {now - (renewed or now):.0f}s "
                    f"(3 x heartbeat_interval {interval:g}s)",
                    now,
                ),
            )
            patch = patches.guarded(body, {"status": fields})
            name = bodies.name_of(body)
            result = await self.guard.run(
                "offline", name, self.writer.patch, NODES, name, patch, status=True
            )
            if result is not None:
                self.state.record_node(result)
                log.info(
                    "node %s is offline (lease expired)",
                    bodies.node_id(body),
                    extra={"node_id": bodies.node_id(body)},
                )
        # 2. Tasks bound to lost (not Ready), offline or deleted nodes go back to pending.
        for task in self.index.stranded():
            node = bodies.task_node(task)
            gone = node is None or not self.index.known(node) or self._deleted(node)
            reason = "node_deleted" if gone else "node_offline"
            await self.guard.run("requeue", bodies.name_of(task), self._requeue, task, now, reason)
        # 3. Drains: park a node once its tasks are done; requeue what runs past the
        #    deadline.
        for body in self._nodes(self.index.draining):
            await self.guard.run("drain", bodies.name_of(body), self._drain, body, now)
        # 3a. A node in maintenance starts nothing new either: a task bound to it but not
        #     started (decided before the node was parked) goes back. One look at the
        #     few assigned tasks, not at every node.
        for task in self.state.tasks_with(TaskPhase.ASSIGNED):
            await self.guard.run("parked", bodies.name_of(task), self._unstart, task, now)
        # 3b. Leases of the old naming (the node's object name) move to web4ai-node-<name>.
        leases = self.state.leases.store
        for lease in [leases[n] for n in list(self.index.old_leases) if n in leases]:
            await self.guard.run("migrate-lease", bodies.name_of(lease), self._migrate, lease)
        # 4. Deleted nodes: once their tasks are requeued, drop the Lease and the finalizer.
        for body in self._nodes(self.index.deleting):
            await self.guard.run("finalize", bodies.name_of(body), self._finalize, body)

    def _nodes(self, names: dict[str, None]) -> list[NodeBody]:
        """The nodes of these names, as they are now (the look's snapshot)."""
        nodes = self.state.nodes_by_name
        return [nodes[n] for n in list(names) if n in nodes]

    async def _drain(self, body: NodeBody, now: float) -> None:
        node = bodies.node_id(body)
        drain = bodies.node_draining(body) or {}
        held = self.index.tasks_on(node)
        # nothing new starts on a draining node: a task bound but not started (bound in
        # the moment before the scheduler saw the drain, say) goes back to the queue; if
        # the node starts it first, the guarded requeue loses and it runs to its end
        unstarted = [t for t in held if bodies.task_phase(t) is TaskPhase.ASSIGNED]
        deadline = drain.get("deadline")
        if held and deadline is not None and now >= float(deadline):
            unstarted = held
        if unstarted:
            reason = "drained (deadline passed)" if unstarted is held else "draining"
            for task in unstarted:
                patch = patches.requeue_patch(task, f"node {node} {reason}", now)
                try:
                    result = await self.writer.patch(
                        TASKS, bodies.name_of(task), patch, status=True
                    )
                except RACED:
                    continue
                if unstarted is held:
                    self.metrics.evictions.labels("drain_deadline").inc()
                self.state.record_task(result)
            return  # parked on the next pass, once the requeues are seen
        if held:
            return
        fields = patches.node_status_fields(body, now, admin=NodeStatus.MAINTENANCE)
        fields["draining"] = None
        fields["conditions"] = patches.set_condition(
            fields.get("conditions") or bodies.status_of(body).get("conditions"),
            patches.condition("Drained", True, "Drained", "drained; in maintenance", now),
        )
        try:
            result = await self.writer.patch(
                NODES,
                bodies.name_of(body),
                patches.guarded(body, {"status": fields}),
                status=True,
            )
        except RACED:
            return
        self.state.record_node(result)
        log.info("node %s drained; now in maintenance", node, extra={"node_id": node})

    async def _unstart(self, task: TaskBody, now: float) -> None:
        node = bodies.task_node(task)
        body = self.state.node_by_id(node) if node else None
        if (
            body is None
            or bodies.node_draining(body)  # the drain step's
            or body["metadata"].get("deletionTimestamp")
            or bodies.node_from_body(body, 0).status is not NodeStatus.MAINTENANCE
        ):
            return
        patch = patches.requeue_patch(task, f"node {node} is in maintenance", now)
        with contextlib.suppress(*RACED):
            self.state.record_task(
                await self.writer.patch(TASKS, bodies.name_of(task), patch, status=True)
            )

    def _deleted(self, node: str) -> bool:
        body = self.state.node_by_id(node)
        return body is None or bool(body["metadata"].get("deletionTimestamp"))

    async def _migrate(self, lease: Body) -> None:
        """An upgrade from the days when a node's Lease had the node's own name: copy it
        to the owned name, then delete the old one (by UID). Only a node's Lease moves:
        labelled, held by that node, named as that node's object."""
        meta, spec = lease["metadata"], lease.get("spec") or {}
        node = (meta.get("labels") or {}).get(IdKind.NODE.label)
        try:
            own_name = node is not None and object_name(IdKind.NODE, node) == meta["name"]
        except InvalidId:
            own_name = False
        if not own_name or spec.get("holderIdentity") != node:
            return
        new_name = node_lease_name(meta["name"])
        if new_name not in self.state.leases.store:
            with contextlib.suppress(Conflict):  # moved meanwhile
                await self.writer.create(
                    LEASES, lease_object(new_name, spec, meta.get("labels") or {})
                )
        await self.writer.delete(LEASES, meta["name"], uid=meta["uid"])
        log.info("moved the Lease of node %s to %s", node, new_name)

    async def _requeue(self, body: TaskBody, now: float, reason: str = "node_offline") -> None:
        patch = patches.attempt_failed_patch(body, NODE_LOST, now)
        try:
            result = await self.writer.patch(TASKS, bodies.name_of(body), patch, status=True)
        except RACED:
            return
        self.metrics.evictions.labels(reason).inc()
        self.state.record_task(result)

    async def _finalize(self, body: NodeBody) -> None:
        finalizers = body["metadata"].get("finalizers") or []
        if bodies.NODE_FINALIZER not in finalizers:
            return
        node = bodies.node_id(body)
        if self.index.tasks_on(node):
            return  # requeued first; the next pass sees them pending
        lease_name = node_lease_name(bodies.name_of(body))
        lease = self.state.leases.store.get(lease_name)
        labels = ((lease or {}).get("metadata") or {}).get("labels") or {}
        if lease is not None and labels.get(IdKind.NODE.label) == node:
            await self.writer.delete(LEASES, lease_name, uid=lease["metadata"]["uid"])
        remaining = [f for f in finalizers if f != bodies.NODE_FINALIZER]
        with contextlib.suppress(*RACED):  # changed: the next pass sees it; gone: done
            await self.writer.patch(
                NODES,
                bodies.name_of(body),
                patches.guarded(body, {"metadata": {"finalizers": remaining}}),
            )
