"""The scheduler's node index (``web4ai.core.nodeindex``) kept in sync with the cache
by the watch hooks: a node's event, or a task's that changes what a node holds, marks
the node, and the next pass (``refresh``) makes the marked nodes' views again, and
only those. A pass never sees the index change under it: events that arrive while it
yields wait for the next one.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from web4ai.core import bodies
from web4ai.core.crs import NodeBody, TaskBody
from web4ai.core.model import Node
from web4ai.core.nodeindex import NodeIndex
from web4ai.k8s.cache import ClusterState


@dataclass
class NodeViews:
    state: ClusterState
    index: NodeIndex = field(default_factory=NodeIndex)
    # per indexed object name: the body its view was made from, and the view
    _made: dict[str, tuple[NodeBody, Node]] = field(default_factory=dict)
    _names: dict[str, str] = field(default_factory=dict)  # node id -> object name
    _marked: set[str] = field(default_factory=set)  # object names
    _marked_ids: set[str] = field(default_factory=set)  # nodes whose bound count moved
    _all: bool = True  # every node is looked at on the next refresh

    def subscribe(self) -> None:
        self.state.on_node_change.append(self.node_changed)
        self.state.on_node_delete.append(self.node_deleted)
        self.state.on_task_change.append(self.task_changed)
        self.state.on_task_delete.append(self.task_deleted)

    def node_changed(self, new: NodeBody, old: NodeBody | None) -> None:
        self._marked.add(bodies.name_of(new))

    def node_deleted(self, body: NodeBody) -> None:
        self._marked.add(bodies.name_of(body))

    def task_changed(self, new: TaskBody, old: TaskBody | None) -> None:
        """A task bound, or no longer: its node's count moved."""
        if bodies.task_phase(new).bound:
            self._count_moved(bodies.task_node(new))
        if old is not None and bodies.task_phase(old).bound:
            self._count_moved(bodies.task_node(old))

    def task_deleted(self, body: TaskBody) -> None:
        if bodies.task_phase(body).bound:
            self._count_moved(bodies.task_node(body))

    def _count_moved(self, node_id: str | None) -> None:
        if node_id:
            self._marked_ids.add(node_id)

    def resync(self) -> None:
        """Look at every node on the next refresh (what a missed event costs at most)."""
        self._all = True

    def refresh(self) -> NodeIndex:
        """The index, with the nodes marked since the last refresh made again."""
        if self._all:
            self._all = False
            self._marked.update(self.state.nodes_by_name, self._made)
        for node_id in self._marked_ids:
            name = self._names.get(node_id)
            if name is not None:  # not indexed: its count is read when it comes
                self._marked.add(name)
        self._marked_ids.clear()
        for name in self._marked:
            self._refresh(name)
        self._marked.clear()
        return self.index

    def _refresh(self, name: str) -> None:
        body = self.state.nodes_by_name.get(name)
        made = self._made.get(name)
        if body is None or body["metadata"].get("deletionTimestamp"):
            if made is not None:
                self._forget(name, made[1].node_id)
            return
        node_id = bodies.node_id(body)
        running = self.state.bound_on(node_id)
        if made is not None and made[0] is body:
            view = made[1] if made[1].running == running else replace(made[1], running=running)
        else:
            view = bodies.node_from_body(body, running)
        if made is not None and made[1].node_id != node_id:
            self._forget(name, made[1].node_id)
        self._made[name] = (body, view)
        self._names[node_id] = name
        self.index.put(view)

    def _forget(self, name: str, node_id: str) -> None:
        del self._made[name]
        if self._names.get(node_id) == name:  # not another object's with the same id
            del self._names[node_id]
            self.index.drop(node_id)
