"""What liveness looks at, kept by the watch hooks, so that a look costs what changed.

A look (``web4ai.operator.liveness``) runs ten times per heartbeat interval. Scanning
every node (and every Lease, every bound task) each time was 45 % of the operator's CPU
at 3,000 nodes. Here the hooks keep:

- ``due``: the nodes liveness watches (Ready, not being deleted), each due for a look
  when its Lease may have expired. A node's event, or a Lease event that may read as an
  earlier sign of life (deleted, relabelled, renewTime stepping back), makes its node
  due at once; a renewal makes nothing due (the node's entry is early at worst: the look
  reads the Lease then and schedules it again);
- the draining nodes, the nodes being deleted, the Leases of the old naming;
- per node id, its bound (assigned or running) tasks, and which node ids may hold bound
  tasks while lost (offline, not Ready, being deleted) or unknown (no node has the id).

``rebuild`` makes all of it from the stores (the first look, and a safety sweep now and
then: an index kept by hooks must not be able to miss something forever).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from web4ai.core import bodies
from web4ai.core.crs import Body, NodeBody, TaskBody
from web4ai.core.expiry import Expiry
from web4ai.core.ids import NODE_LEASE_PREFIX, IdKind
from web4ai.core.model import NodeStatus, TaskPhase
from web4ai.k8s.cache import ClusterState

AT_ONCE = float("-inf")  # a due time: the next look
# the node statuses whose bound tasks go back to the queue (with the not Ready and the
# deleted nodes)
REQUEUE_FROM = (NodeStatus.OFFLINE,)
_REQUEUE_FROM = frozenset(s.value for s in REQUEUE_FROM)


@dataclass
class LivenessIndex:
    state: ClusterState
    due: Expiry = field(default_factory=Expiry)
    watched: set[str] = field(default_factory=set)  # names: Ready, not being deleted
    draining: dict[str, None] = field(default_factory=dict)  # names, not being deleted
    deleting: dict[str, None] = field(default_factory=dict)  # names
    old_leases: set[str] = field(default_factory=set)  # Lease names of the old naming
    _id_of: dict[str, str] = field(default_factory=dict)  # node name -> node id
    _known: Counter[str] = field(default_factory=Counter)  # node id -> nodes with it
    _lost_of: dict[str, str] = field(default_factory=dict)  # lost node name -> node id
    _lost: Counter[str] = field(default_factory=Counter)  # node id -> lost nodes with it
    # bound tasks: task name -> node id (None: bound to no node), node id -> task names
    _node_of: dict[str, str | None] = field(default_factory=dict)
    _on: dict[str | None, dict[str, None]] = field(default_factory=dict)
    # node ids that may be lost or unknown and hold bound tasks (a superset, in order)
    _suspect: dict[str | None, None] = field(default_factory=dict)

    def subscribe(self) -> None:
        self.state.on_node_change.append(self.node_changed)
        self.state.on_node_delete.append(self.node_deleted)
        self.state.on_task_change.append(self.task_changed)
        self.state.on_task_delete.append(self.task_deleted)
        self.state.on_lease_change.append(self.lease_changed)

    def rebuild(self) -> None:
        """Everything anew from the stores; no node due (the caller schedules every
        watched node in one go: ``Expiry.replace_all``)."""
        self.due = Expiry()
        for kept in (self.watched, self.draining, self.deleting, self.old_leases):
            kept.clear()
        for index in (self._id_of, self._known, self._lost_of, self._lost):
            index.clear()
        self._node_of.clear()
        self._on.clear()
        for node in self.state.nodes_by_name.values():
            self._put_node(node, schedule=False)
        for task in self.state.tasks_with(TaskPhase.ASSIGNED, TaskPhase.RUNNING):
            self._bind(bodies.name_of(task), bodies.task_node(task))
        self._suspect = dict.fromkeys(self._on)
        self.old_leases.update(
            n for n in self.state.leases.store if not n.startswith(NODE_LEASE_PREFIX)
        )

    # -- the hooks ---------------------------------------------------------------------

    def node_changed(self, new: NodeBody, old: NodeBody | None) -> None:
        self._put_node(new)

    def node_deleted(self, body: NodeBody) -> None:
        self._drop_node(bodies.name_of(body))

    def task_changed(self, new: TaskBody, old: TaskBody | None) -> None:
        self._put_task(new)

    def task_deleted(self, body: TaskBody) -> None:
        self._drop_task(bodies.name_of(body))

    def lease_changed(self, kind: str, new: Body, old: Body | None) -> None:
        name = bodies.name_of(new)
        if not name.startswith(NODE_LEASE_PREFIX):
            if kind == "DELETED":
                self.old_leases.discard(name)
            else:
                self.old_leases.add(name)
            return
        node = name[len(NODE_LEASE_PREFIX) :]
        if node not in self.watched:
            return
        if kind != "DELETED" and old is not None and _not_earlier(new, old):
            return
        self.due.schedule(node, AT_ONCE)

    # -- what a look reads -------------------------------------------------------------

    def known(self, node_id: str) -> bool:
        """Some node has this id."""
        return node_id in self._known

    def lost_or_unknown(self, node_id: str | None) -> bool:
        """The tasks bound to this node id go back to the queue."""
        return node_id is None or node_id in self._lost or node_id not in self._known

    def tasks_on(self, node_id: str) -> list[TaskBody]:
        """The tasks assigned or running on a node."""
        tasks = self.state.tasks_by_name
        return [tasks[t] for t in self._on.get(node_id, ()) if t in tasks]

    def stranded(self) -> list[TaskBody]:
        """The tasks assigned or running on lost or unknown nodes (or on none): a look
        at the node ids that may have some, not at every bound task."""
        tasks, out = self.state.tasks_by_name, list[TaskBody]()
        for node in list(self._suspect):
            on = self._on.get(node)
            if on and self.lost_or_unknown(node):
                out.extend(tasks[t] for t in on if t in tasks)
            else:
                del self._suspect[node]
        return out

    # -- keeping it -------------------------------------------------------------------

    def _put_node(self, body: NodeBody, *, schedule: bool = True) -> None:
        name = bodies.name_of(body)
        self._drop_node(name)
        node_id = bodies.node_id(body)
        self._id_of[name] = node_id
        self._known[node_id] += 1
        deleting = bool(body["metadata"].get("deletionTimestamp"))
        alive = bodies.node_alive(body)
        if deleting:
            self.deleting[name] = None
        elif bodies.node_draining(body):
            self.draining[name] = None
        if alive and not deleting:
            self.watched.add(name)
            if schedule:
                self.due.schedule(name, AT_ONCE)
        if deleting or not alive or bodies.status_of(body).get("status") in _REQUEUE_FROM:
            self._lost_of[name] = node_id
            self._lost[node_id] += 1
            self._suspect[node_id] = None

    def _drop_node(self, name: str) -> None:
        node_id = self._id_of.pop(name, None)
        if node_id is None:
            return
        _decrement(self._known, node_id)
        lost = self._lost_of.pop(name, None)
        if lost is not None:
            _decrement(self._lost, lost)
        self._suspect[node_id] = None  # it may be unknown now
        self.watched.discard(name)
        self.draining.pop(name, None)
        self.deleting.pop(name, None)
        self.due.forget(name)

    def _put_task(self, body: TaskBody) -> None:
        name = bodies.name_of(body)
        self._drop_task(name)
        if bodies.task_phase(body).bound:
            self._bind(name, bodies.task_node(body))

    def _bind(self, name: str, node: str | None) -> None:
        self._node_of[name] = node
        self._on.setdefault(node, {})[name] = None
        if self.lost_or_unknown(node):
            self._suspect[node] = None

    def _drop_task(self, name: str) -> None:
        if name not in self._node_of:
            return
        node = self._node_of.pop(name)
        on = self._on[node]
        del on[name]
        if not on:
            del self._on[node]


def _decrement(counts: Counter[str], key: str) -> None:
    counts[key] -= 1
    if counts[key] <= 0:
        del counts[key]


def _not_earlier(new: Body, old: Body) -> bool:
    """The Lease reads as a sign of life no earlier than before (same node label,
    renewTime not stepping back): a due time made from the old one is early at worst."""
    label = IdKind.NODE.label
    labels = (new["metadata"].get("labels") or {}, old["metadata"].get("labels") or {})
    if labels[0].get(label) != labels[1].get(label):
        return False
    times = ((new.get("spec") or {}).get("renewTime"), (old.get("spec") or {}).get("renewTime"))
    if times[0] == times[1]:
        return True
    try:
        renewed, before = (bodies.parse_time(t) for t in times)
    except (TypeError, ValueError):
        return False
    return before is None or (renewed is not None and renewed >= before)
