"""The cluster state shared by the operator and the API: stores of the nodes, tasks,
node Leases and the orchestrator, plus the derived values both need.

The API's stores are informers that watch for themselves (``ClusterState(api, ns)``).
The operator's are fed from outside (``ClusterState.fed(ns)``): Kopf's handlers feed
the nodes, Leases and orchestrator, and the Kopf daemon's ``ListWatch`` the tasks.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import cast

from kubernetes_asyncio import client

from web4ai.core import bodies
from web4ai.core.config import Settings, settings_from_spec
from web4ai.core.crs import NodeBody, OrchestratorBody, OrchestratorSpec, TaskBody
from web4ai.core.heartbeats import adaptive_interval, min_interval
from web4ai.core.ids import IdKind, identity, node_lease_name
from web4ai.core.lean import api_task, lean_object, operator_task
from web4ai.core.listorder import ListOrder
from web4ai.core.model import Node, TaskPhase, TaskStatus
from web4ai.core.resources import LEASES, NODES, ORCHESTRATORS, TASKS, Resource
from web4ai.k8s.listwatch import Informer
from web4ai.k8s.store import Body, Lean, OnChange, Store, newer

LEASE_SELECTOR = "web4ai.io/node-id"  # a node's Lease is labelled with its node id
LIVE = ("active", "degraded")  # the node statuses that heartbeat

# A hook (new, old) of a kind: the new body and the version before (None when new).
TaskTransition = Callable[[TaskBody, TaskBody | None], None]
NodeTransition = Callable[[NodeBody, NodeBody | None], None]
OrchestratorTransition = Callable[[OrchestratorBody, OrchestratorBody | None], None]


@dataclass
class ClusterState:
    api: client.ApiClient | None
    namespace: str
    # False: plain stores, fed from outside (the operator); True: the API's informers
    watched: bool = True
    # what of a task the stores keep (web4ai.core.lean): the API's by default
    lean_task: Lean = api_task
    # the tasks in the order GET /tasks pages in (the API's; the operator keeps none)
    list_order: ListOrder = field(default_factory=ListOrder)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    on_task_change: list[TaskTransition] = field(default_factory=list)
    on_task_delete: list[Callable[[TaskBody], None]] = field(default_factory=list)
    on_node_change: list[NodeTransition] = field(default_factory=list)
    on_node_delete: list[Callable[[NodeBody], None]] = field(default_factory=list)
    on_orchestrator_change: list[OrchestratorTransition] = field(default_factory=list)
    # (event type, new, old) of a node Lease: renewals, hundreds a second at 10,000 nodes,
    # wake no pass; a hook must cost next to nothing
    on_lease_change: list[OnChange] = field(default_factory=list)
    nodes: Store = field(init=False)
    tasks: Store = field(init=False)
    # the tasks by phase, kept by the task hook: passes read the few pending or bound
    # tasks without a scan of the whole history
    _by_phase: dict[TaskPhase, dict[str, TaskBody]] = field(init=False)
    # +1 per phase whenever a task enters, leaves or changes within it (a memo key)
    _phase_changes: Counter[TaskPhase] = field(init=False)
    _phase_of: dict[str, TaskPhase] = field(init=False)
    # per task, kept by the same hook: its execution time and when it finished
    _exec: dict[str, float] = field(init=False)
    _exec_sum: float = field(init=False, default=0.0)
    _done_at: dict[str, float] = field(init=False)
    # bound (assigned or running) tasks per node id, kept by the same hook
    _bound_on: dict[str, str] = field(init=False)
    _bound: Counter[str] = field(init=False)
    # every task that names a node (bound or finished there), per node id, kept by the
    # same hook: a node's detail lists its tasks without a scan of the whole history
    _node_of: dict[str, str] = field(init=False)
    _on_node: dict[str, dict[str, None]] = field(init=False)
    # derived once per object version: the settings, and each node's scheduler view
    _settings: tuple[OrchestratorBody | None, Settings] | None = field(init=False, default=None)
    _views: dict[str, tuple[NodeBody, str, Node]] = field(init=False)
    # the nodes that are active or degraded (they heartbeat), kept by the node hook
    _live: set[str] = field(init=False)
    # node name -> (its Lease, its body, when it was last renewed) as last read
    _renewed: dict[str, tuple[Body | None, NodeBody, float | None]] = field(init=False)
    # node name -> a heartbeat this process took that the node's Lease does not show yet
    # (the API holds renewals: web4ai.core.renewals); lease_renewed reads it too
    _beats: dict[str, float] = field(init=False)
    leases: Store = field(init=False)
    orchestrators: Store = field(init=False)

    def __post_init__(self) -> None:
        self._by_phase = {phase: {} for phase in TaskPhase}
        self._phase_changes = Counter()
        self._phase_of = {}
        self._exec = {}
        self._done_at = {}
        self._bound_on = {}
        self._bound = Counter()
        self._node_of = {}
        self._on_node = {}
        self._views = {}
        self._live = set()
        self._renewed = {}
        self._beats = {}
        self.nodes = self._store(NODES, self._node_changed)
        self.tasks = self._store(TASKS, self._task_changed, lean=self.lean_task)
        # a renewal wakes no pass (liveness reads the Leases that may have expired on its
        # tick): at 10,000 nodes, hundreds a second
        self.leases = self._store(LEASES, self._lease_changed, LEASE_SELECTOR)
        self.orchestrators = self._store(ORCHESTRATORS, self._orchestrator_changed)

    @classmethod
    def fed(cls, namespace: str, lean_task: Lean = operator_task) -> ClusterState:
        """Plain stores that something else feeds (``apply_event``, ``apply_list``);
        tasks kept as the operator needs them."""
        return cls(
            None, namespace, watched=False, lean_task=lean_task, list_order=ListOrder(kept=False)
        )

    def _store(
        self,
        resource: Resource,
        on_change: OnChange,
        selector: str | None = None,
        lean: Lean = lean_object,
    ) -> Store:
        if not self.watched:
            return Store(on_change=on_change, lean=lean)
        return Informer(
            self.api,
            resource,
            self.namespace,
            on_change=on_change,
            label_selector=selector,
            lean=lean,
        )

    @property
    def stores(self) -> list[Store]:
        return [self.nodes, self.tasks, self.leases, self.orchestrators]

    @property
    def informers(self) -> list[Informer]:
        """The stores that watch for themselves (none when fed from outside)."""
        return [s for s in self.stores if isinstance(s, Informer)]

    def _lease_changed(self, kind: str, new: Body, old: Body | None) -> None:
        for callback in self.on_lease_change:
            callback(kind, new, old)

    def _index_task(self, kind: str, raw: Body) -> None:
        """Index the task of an event (``raw``: the incoming body; what the index holds
        is the store's lean one)."""
        body = bodies.as_task(raw)
        name = bodies.name_of(body)
        before = self._phase_of.pop(name, None)
        if before is not None:
            self._by_phase[before].pop(name, None)
            self._phase_changes[before] += 1
        self._exec_sum -= self._exec.pop(name, 0.0)
        self._done_at.pop(name, None)
        node = self._bound_on.pop(name, None)
        if node is not None:
            self._bound[node] -= 1
            if not self._bound[node]:
                del self._bound[node]
        named = None if kind == "DELETED" else bodies.task_node(body)
        if self._node_of.get(name) != named:
            self._file_under(name, named)
        if kind == "DELETED":
            self.list_order.put(name, None)
        else:
            phase = bodies.task_phase(body)
            self.list_order.put(name, body, phase)
            self._by_phase[phase][name] = bodies.as_task(self.tasks.store[name])
            self._phase_of[name] = phase
            self._phase_changes[phase] += 1
            node = bodies.task_node(body) if phase.bound else None
            if node:
                self._bound_on[name] = node
                self._bound[node] += 1
            status = bodies.status_of(body)
            if status.get("executionTime") is not None:
                self._exec[name] = float(status["executionTime"])
                self._exec_sum += self._exec[name]
            done = bodies.parse_time(status.get("completedAt")) if phase.status.terminal else None
            if done is not None:
                self._done_at[name] = done

    def _file_under(self, name: str, node: str | None) -> None:
        """Move the task ``name`` to the list of ``node`` (None: of no node)."""
        before = self._node_of.pop(name, None)
        if before is not None:
            names = self._on_node[before]
            del names[name]
            if not names:
                del self._on_node[before]
        if node:
            self._node_of[name] = node
            self._on_node.setdefault(node, {})[name] = None

    def _task_changed(self, kind: str, new: Body, old: Body | None) -> None:
        self._index_task(kind, new)
        self.changed.set()
        if kind != "DELETED":
            typed, before = bodies.as_task(new), None if old is None else bodies.as_task(old)
            for callback in self.on_task_change:
                callback(typed, before)
        else:
            for gone in self.on_task_delete:
                gone(bodies.as_task(new))

    def _node_changed(self, kind: str, new: Body, old: Body | None) -> None:
        self.changed.set()
        name = bodies.name_of(new)
        status = (new.get("status") or {}).get("status")
        if kind != "DELETED" and status in LIVE and not new["metadata"].get("deletionTimestamp"):
            self._live.add(name)
        else:
            self._live.discard(name)
        if kind != "DELETED":
            typed, before = bodies.as_node(new), None if old is None else bodies.as_node(old)
            for callback in self.on_node_change:
                callback(typed, before)
        else:
            for gone in self.on_node_delete:
                gone(bodies.as_node(new))

    def _orchestrator_changed(self, kind: str, new: Body, old: Body | None) -> None:
        self.changed.set()
        if kind != "DELETED":
            o_new = bodies.as_orchestrator(new)
            o_old = None if old is None else bodies.as_orchestrator(old)
            for callback in self.on_orchestrator_change:
                callback(o_new, o_old)

    def record_task(self, body: Body) -> TaskBody:
        """Our own write's result: into the store at once (lean), with the same hooks as
        a watch event (the watch's later copy then shows no change). Returns it whole,
        typed."""
        self._record(self.tasks, body, self._task_changed)
        return bodies.as_task(body)

    def record_node(self, body: Body) -> NodeBody:
        self._record(self.nodes, body, self._node_changed)
        return bodies.as_node(body)

    def record_orchestrator(self, body: Body) -> OrchestratorBody:
        self._record(self.orchestrators, body, self._orchestrator_changed)
        return bodies.as_orchestrator(body)

    @staticmethod
    def _record(store: Store, body: Body, changed: OnChange) -> None:
        old = store.put(body)
        if old is None or not newer(old, body):  # stored: not older than what was held
            changed("MODIFIED", body, old)

    # -- the stores' bodies, typed (the stores themselves hold raw bodies) ----

    @property
    def nodes_by_name(self) -> Mapping[str, NodeBody]:
        return cast("Mapping[str, NodeBody]", self.nodes.store)

    @property
    def tasks_by_name(self) -> Mapping[str, TaskBody]:
        return cast("Mapping[str, TaskBody]", self.tasks.store)

    def orchestrator(self) -> OrchestratorBody | None:
        """The singleton Web4AIOrchestrator, when it is in the store."""
        body = self.orchestrators.store.get(bodies.ORCHESTRATOR_NAME)
        return None if body is None else bodies.as_orchestrator(body)

    def versions(self, *stores: Store) -> tuple[int, ...]:
        """A key that changes whenever any of the stores changes."""
        return tuple(s.version for s in stores)

    async def wait_synced(self) -> None:
        await asyncio.gather(*(s.synced.wait() for s in self.stores))

    async def wait_primed(self) -> None:
        """Every store holds what the passes need first: all of it, or for a store fed
        with ``ListWatch.first`` (the operator's tasks) the part it lists first."""
        await asyncio.gather(*(s.primed.wait() for s in self.stores))

    @property
    def synced(self) -> bool:
        return all(s.synced.is_set() for s in self.stores)

    # -- derived values -----------------------------------------------------

    def settings_spec(self) -> OrchestratorSpec:
        body = self.orchestrator()
        spec: OrchestratorSpec = (body.get("spec") if body is not None else None) or {}
        return spec.copy()

    def settings(self) -> Settings:
        """The settings of the orchestrator's spec, parsed once per version of it."""
        body = self.orchestrator()
        if self._settings is None or self._settings[0] is not body:
            self._settings = (body, settings_from_spec(self.settings_spec()))
        return self._settings[1]

    def live_nodes(self) -> int:
        """How many nodes are active or degraded (kept by the node hook: no scan)."""
        return len(self._live)

    def heartbeat_interval(self) -> float:
        """The interval nodes are told now: ``heartbeat_interval``, or longer so that
        all live nodes stay under ``max_heartbeats_per_second``."""
        settings = self.settings()
        return adaptive_interval(
            settings.heartbeat_interval, len(self._live), settings.max_heartbeats_per_second
        )

    def min_heartbeat_interval(self) -> float:
        """No node should beat more often than this (live nodes / the cap)."""
        return min_interval(len(self._live), self.settings().max_heartbeats_per_second)

    def bound_on(self, node_id: str) -> int:
        """Tasks assigned or running on one node (kept by the task hook)."""
        return self._bound.get(node_id, 0)

    def tasks_on(self, node_id: str) -> list[TaskBody]:
        """The tasks that name the node (bound to it, or finished there), in the order
        they came to it (kept by the task hook: no scan)."""
        store = self.tasks.store
        return [bodies.as_task(store[n]) for n in self._on_node.get(node_id, ()) if n in store]

    def phase_of(self, name: str) -> TaskPhase | None:
        """A task's phase from the index (None when not in the store)."""
        return self._phase_of.get(name)

    def bound_counts(self) -> Counter[str]:
        """Tasks assigned or running, per node id (kept by the task hook: no scan)."""
        return Counter(self._bound)

    def node_views(self) -> dict[str, Node]:
        """Each node as the scheduler sees it, with its bound count; a node's view is
        made again only when its object or its count changed."""
        counts, views, cache = self._bound, {}, self._views
        for name, body in self.nodes_by_name.items():
            hit = cache.get(name)
            if hit is None or hit[0] is not body:
                if body["metadata"].get("deletionTimestamp"):
                    cache.pop(name, None)
                    continue
                node_id = bodies.node_id(body)
                hit = (body, node_id, bodies.node_from_body(body, counts[node_id]))
                cache[name] = hit
            node_id, view = hit[1], hit[2]
            if view.running != counts[node_id]:
                view = replace(view, running=counts[node_id])
                cache[name] = (body, node_id, view)
            views[node_id] = view
        if len(cache) > len(self.nodes.store):
            for gone in cache.keys() - self.nodes.store.keys():
                del cache[gone]
        return views

    def task_counts(self) -> Counter[TaskStatus]:
        """How many tasks have each status (from the phase index)."""
        counts: Counter[TaskStatus] = Counter()
        for phase, tasks in self._by_phase.items():
            counts[phase.status] += len(tasks)
        return counts

    def mean_execution_time(self) -> float | None:
        """The mean ``executionTime`` of the tasks that report one, or None."""
        return self._exec_sum / len(self._exec) if self._exec else None

    def finished_at(self) -> dict[str, float | None]:
        """Every finished task's name and when it finished (None if unknown)."""
        done, out = self._done_at, {}
        for phase, tasks in self._by_phase.items():
            if phase.terminal:
                out.update({name: done.get(name) for name in tasks})
        return out

    def finished_since(self, since: float) -> int:
        """How many finished tasks have a ``completedAt`` at or after ``since``."""
        return sum(1 for done in self._done_at.values() if done >= since)

    def changes_in(self, *phases: TaskPhase) -> int:
        """A count that moves whenever a task enters, leaves or changes in these phases."""
        return sum(self._phase_changes[phase] for phase in phases)

    def tasks_with(self, *phases: TaskPhase, excluding: Collection[str] = ()) -> list[TaskBody]:
        """The tasks in these phases (from the index: no scan of finished tasks), but
        not those named in ``excluding`` (a set difference, not a loop)."""
        tasks = [self._by_phase[phase] for phase in dict.fromkeys(phases)]
        if not excluding:
            return [b for by_name in tasks for b in by_name.values()]
        return [by_name[n] for by_name in tasks for n in by_name.keys() - excluding]

    def node_by_id(self, node_id: str) -> NodeBody | None:
        """The node of ``node_id``: by its object name (ids map to names), else a scan."""
        try:
            body = self.nodes_by_name.get(identity(IdKind.NODE, node_id).name)
        except ValueError:
            body = None
        if body is not None and bodies.node_id(body) == node_id:
            return body
        for body in self.nodes_by_name.values():
            if bodies.node_id(body) == node_id:
                return body
        return None

    def lease_renewed(self, node_body: NodeBody) -> float | None:
        """The last sign of life: the Lease's renewTime or the node's lastHeartbeat
        (read once per version of the two: liveness asks for every node's at a full
        look)."""
        name = bodies.name_of(node_body)
        lease = self.leases.store.get(node_lease_name(name))
        hit = self._renewed.get(name)
        if hit is not None and hit[0] is lease and hit[1] is node_body:
            renewed = hit[2]
        else:
            renewed = self._read_renewed(node_body, lease)
            if len(self._renewed) > 2 * len(self.nodes.store) + 1000:
                self._renewed.clear()
            self._renewed[name] = (lease, node_body, renewed)
        beat = self._beats.get(name)
        return renewed if beat is None or (renewed is not None and renewed >= beat) else beat

    def held_beat(self, node_name: str, when: float) -> None:
        """A heartbeat taken at ``when`` that the node's Lease shows later (the API holds
        renewals, ``web4ai.core.renewals``): ``lease_renewed`` reads it meanwhile, and
        readers that memoize on the Leases' version see the change."""
        if len(self._beats) > 2 * len(self.nodes.store) + 1000:
            self._beats.clear()
        self._beats[node_name] = when
        self.leases.version += 1

    def lease_seen(self, node_body: NodeBody) -> float | None:
        """The renewTime on the node's own (labelled) Lease as watched; None: no such
        Lease."""
        lease = self.leases.store.get(node_lease_name(bodies.name_of(node_body)))
        return _own_renewal(node_body, lease)

    def _read_renewed(self, node_body: NodeBody, lease: Body | None) -> float | None:
        renew = _own_renewal(node_body, lease)
        beat = bodies.parse_time(bodies.status_of(node_body).get("lastHeartbeat"))
        created = bodies.parse_time(node_body["metadata"].get("creationTimestamp"))
        times = [t for t in (renew, beat, created) if t is not None]
        return max(times) if times else None


def _own_renewal(node_body: NodeBody, lease: Body | None) -> float | None:
    """The renewTime of ``lease`` when it is the node's own (labelled with its id)."""
    labels = ((lease or {}).get("metadata") or {}).get("labels") or {}
    if lease is None or labels.get(IdKind.NODE.label) != bodies.node_id(node_body):
        return None
    return bodies.parse_time((lease.get("spec") or {}).get("renewTime"))
