"""Fakes for running the operator's controllers in-process, with no API server.

- ``FakeClock``: the ``clock`` every controller takes; time moves only by ``advance``.
- ``FakeApiServer``: objects by resource and name, with resourceVersions from one
  counter, JSON merge patches (the status subresource apart from the rest), the
  ``metadata.resourceVersion`` guard of ``patches.guarded`` (409 when stale), delete
  preconditions and finalizers. It raises the typed errors of ``web4ai.k8s.errors``.
- ``RecordingWriter``: a ``web4ai.k8s.writing.Writer`` whose calls go to the fake server
  and are recorded in order; it handles the server's errors as ``Writer`` does (a 404 or
  409 on ``patch`` is None, ...). ``fail`` makes the next call on an object fail.
- ``FakeCluster``: the three together plus the real ``ClusterState`` (the watch cache
  the controllers read), whose informers ``sync`` feeds from the server through their
  own ``apply_list``, so watch hooks run as they do for a real watch.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast

from kubernetes_asyncio import client

from tests.unit.controllers.objects import NOW, lease_body, node_body, task_body
from web4ai.core import bodies
from web4ai.core.crs import AnyBody
from web4ai.core.ids import IdKind, identity, node_lease_name
from web4ai.core.lean import operator_task
from web4ai.core.resources import GROUP, LEASES, NODES, ORCHESTRATORS, TASKS, VERSION, Resource
from web4ai.k8s.cache import ClusterState
from web4ai.k8s.errors import Conflict, K8sError, NotFound
from web4ai.k8s.writing import Writer
from web4ai.operator.isolation import Isolation

Body = dict[str, Any]
NS = "fake"
EVENTS = Resource("", "v1", "events", "Event")  # recorded, never stored
NODE_LABEL = IdKind.NODE.label


class FakeClock:
    """A clock that stands still until told to move."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


def merge(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge(out.get(key), value)
    return out


@dataclass
class FakeApiServer:
    """The objects of one namespace, as the API server keeps them."""

    clock: FakeClock
    objects: dict[Resource, dict[str, Body]] = field(
        default_factory=lambda: {p: {} for p in (NODES, TASKS, ORCHESTRATORS, LEASES)}
    )
    revision: int = 100
    _uids: Iterator[int] = field(default_factory=itertools.count)

    def _bump(self, body: Body) -> Body:
        self.revision += 1
        body["metadata"]["resourceVersion"] = str(self.revision)
        return body

    def create(self, resource: Resource, body: Body) -> Body:
        name = body["metadata"]["name"]
        if name in self.objects[resource]:
            raise Conflict(409, "AlreadyExists")
        new = copy.deepcopy(body)
        meta = new["metadata"]
        meta["namespace"] = NS
        meta["uid"] = f"uid-{name}-{next(self._uids)}"
        meta.setdefault("creationTimestamp", bodies.format_time(self.clock()))
        self.objects[resource][name] = self._bump(new)
        return copy.deepcopy(new)

    def get(self, resource: Resource, name: str) -> Body:
        body = self.objects[resource].get(name)
        if body is None:
            raise NotFound(404, "NotFound")
        return copy.deepcopy(body)

    def patch(self, resource: Resource, name: str, patch: Body, *, status: bool = False) -> Body:
        current = self.get(resource, name)
        patch = copy.deepcopy(patch)
        meta = dict(patch.get("metadata") or {})
        guard = meta.pop("resourceVersion", None)
        if guard is not None and guard != current["metadata"]["resourceVersion"]:
            raise Conflict(409, "Conflict")
        if status:  # the status subresource changes the status only
            applied: Body = {"status": patch["status"]} if "status" in patch else {}
        else:  # and the main resource anything but the status
            applied = {k: v for k, v in patch.items() if k not in ("status", "metadata")}
            if meta:
                applied["metadata"] = meta
        new = self._bump(merge(current, applied))
        if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
            del self.objects[resource][name]
        else:
            self.objects[resource][name] = new
        return copy.deepcopy(new)

    def delete(
        self,
        resource: Resource,
        name: str,
        *,
        uid: str | None = None,
        resource_version: str | None = None,
    ) -> None:
        current = self.get(resource, name)
        meta = current["metadata"]
        if (uid and uid != meta["uid"]) or (
            resource_version and resource_version != meta["resourceVersion"]
        ):
            raise Conflict(409, "Conflict")
        if meta.get("finalizers"):
            if not meta.get("deletionTimestamp"):
                meta["deletionTimestamp"] = bodies.format_time(self.clock())
                self.objects[resource][name] = self._bump(current)
            return
        del self.objects[resource][name]


@dataclass(frozen=True)
class Call:
    """One recorded writer call: ``outcome`` is "ok" or the HTTP status it failed with."""

    verb: str  # patch, patch_status, delete, create, replace, get, read, event
    resource: Resource
    name: str
    body: Body | None
    outcome: str | int = "ok"


class RecordingWriter(Writer):
    """The writer the controllers call, against ``FakeApiServer``, recording each call."""

    def __init__(self, server: FakeApiServer) -> None:
        super().__init__(cast(client.ApiClient, None), NS)
        self.server = server
        self.calls: list[Call] = []
        self._failures: dict[tuple[str, str], list[K8sError]] = {}

    def fail(self, verb: str, name: str, *errors: K8sError) -> None:
        """The next calls of ``verb`` on ``name`` get these errors from the server, in turn."""
        self._failures.setdefault((verb, name), []).extend(errors)

    def _serve(self, verb: str, resource: Resource, name: str, body: Body | None, op: Any) -> Any:
        queued = self._failures.get((verb, name))
        try:
            if queued:
                raise queued.pop(0)
            result = op()
        except K8sError as exc:
            self.calls.append(Call(verb, resource, name, copy.deepcopy(body), exc.status))
            raise
        self.calls.append(Call(verb, resource, name, copy.deepcopy(body)))
        return result

    # -- what the recording shows ------------------------------------------------

    def done(self, verb: str | None = None, resource: Resource | None = None) -> list[Call]:
        """The calls that succeeded, optionally of one verb and resource."""
        return [
            c
            for c in self.calls
            if c.outcome == "ok"
            and (verb is None or c.verb == verb)
            and (resource is None or c.resource == resource)
        ]

    def status_patches(self, resource: Resource = TASKS) -> list[tuple[str, Body]]:
        """(name, status patch) of every successful status write to ``resource``."""
        return [(c.name, (c.body or {})["status"]) for c in self.done("patch_status", resource)]

    def clear(self) -> None:
        self.calls.clear()

    # -- the Writer's methods -------------------------------------------------------

    async def get(self, resource: Resource, name: str) -> Body | None:
        try:
            body: Body = self._serve(
                "get", resource, name, None, lambda: self.server.get(resource, name)
            )
        except NotFound:
            return None
        return body

    async def read(self, resource: Resource, name: str) -> Body:
        body: Body = self._serve(
            "read", resource, name, None, lambda: self.server.get(resource, name)
        )
        return body

    async def create(
        self,
        resource: Resource,
        body: AnyBody,
    ) -> Body:
        raw = cast(Body, body)
        name = raw["metadata"]["name"]
        created: Body = self._serve(
            "create", resource, name, raw, lambda: self.server.create(resource, raw)
        )
        return created

    async def replace(
        self,
        resource: Resource,
        name: str,
        body: Body,
    ) -> Body:
        def op() -> Body:
            current = self.server.get(resource, name)
            if body["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
                raise Conflict(409, "Conflict")
            self.server.objects[resource][name] = merge(body, {"metadata": current["metadata"]})
            return self.server.patch(resource, name, {})

        result: Body = self._serve("replace", resource, name, body, op)
        return result

    async def patch(
        self, resource: Resource, name: str, patch: Body, *, status: bool = False
    ) -> Body:
        self.writes[resource.plural] += 1
        verb = "patch_status" if status else "patch"
        try:
            result: Body = self._serve(
                verb,
                resource,
                name,
                patch,
                lambda: self.server.patch(resource, name, patch, status=status),
            )
        except K8sError as exc:
            if exc.status in (404, 409):
                self.conflicts += 1
            raise
        return result

    async def delete(
        self,
        resource: Resource,
        name: str,
        resource_version: str | None = None,
        *,
        uid: str | None = None,
    ) -> bool:
        self.writes[resource.plural] += 1
        pre = {"uid": uid, "resourceVersion": resource_version}
        try:
            self._serve(
                "delete",
                resource,
                name,
                {"preconditions": {k: v for k, v in pre.items() if v}},
                lambda: self.server.delete(
                    resource, name, uid=uid, resource_version=resource_version
                ),
            )
        except K8sError as exc:
            if exc.status in (404, 409):
                return False
            raise
        return True

    async def event(
        self,
        involved: AnyBody,
        reason: str,
        message: str,
        *,
        warning: bool = False,
        component: str = "web4ai-operator",
    ) -> None:
        self.writes["events"] += 1
        event = {"reason": reason, "message": message, "type": "Warning" if warning else "Normal"}
        with contextlib.suppress(K8sError):  # best effort, as the Writer's
            self._serve("event", EVENTS, bodies.name_of(involved), event, lambda: None)

    def events(self) -> list[tuple[str, str, str, str]]:
        """(object, reason, message, type) of every posted Event."""
        return [
            (c.name, (c.body or {})["reason"], (c.body or {})["message"], (c.body or {})["type"])
            for c in self.done("event")
        ]


@dataclass
class FakeCluster:
    """A fake API server, a recording writer on it, and the real watch cache it feeds."""

    clock: FakeClock = field(default_factory=FakeClock)
    server: FakeApiServer = field(init=False)
    writer: RecordingWriter = field(init=False)
    state: ClusterState = field(init=False)

    def __post_init__(self) -> None:
        self.server = FakeApiServer(self.clock)
        self.writer = RecordingWriter(self.server)
        self.state = ClusterState(cast(client.ApiClient, None), NS, lean_task=operator_task)

    def guard(self) -> Isolation:
        """The per-object failure isolation on the fake clock."""
        return Isolation(self.clock)

    # -- setting the scene (as the API or kubectl would), then ``sync`` ----------------

    def configure(self, **spec: Any) -> Body:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Web4AIOrchestrator",
            "metadata": {"name": bodies.ORCHESTRATOR_NAME},
            "spec": spec,
        }
        if bodies.ORCHESTRATOR_NAME in self.server.objects[ORCHESTRATORS]:
            return self.server.patch(ORCHESTRATORS, bodies.ORCHESTRATOR_NAME, {"spec": spec})
        return self.server.create(ORCHESTRATORS, body)

    def add_node(self, node_id: str, *, lease: bool = True, **kw: Any) -> Body:
        kw.setdefault("heartbeat", self.clock())
        created = self.server.create(NODES, node_body(node_id, **kw))
        if lease:
            self.server.create(LEASES, lease_body(node_id, self.clock()))
        return created

    def add_task(self, task_id: str, **kw: Any) -> Body:
        kw.setdefault("submitted", self.clock())
        return self.server.create(TASKS, task_body(task_id, **kw))

    def set_status(self, resource: Resource, name: str, **status: Any) -> Body:
        return self.server.patch(resource, name, {"status": status}, status=True)

    def renew(self, node_id: str) -> None:
        name = node_lease_name(identity(IdKind.NODE, node_id).name)
        self.server.patch(LEASES, name, {"spec": {"renewTime": bodies.format_time(self.clock())}})

    def sync(self) -> None:
        """The watch catches up: every informer's store becomes the server's objects."""
        s, objects = self.state, self.server.objects
        version = str(self.server.revision)
        s.nodes.apply_list(copy.deepcopy(list(objects[NODES].values())), version)
        s.tasks.apply_list(copy.deepcopy(list(objects[TASKS].values())), version)
        s.orchestrators.apply_list(copy.deepcopy(list(objects[ORCHESTRATORS].values())), version)
        labelled = [
            b for b in objects[LEASES].values() if NODE_LABEL in b["metadata"].get("labels", {})
        ]
        s.leases.apply_list(copy.deepcopy(labelled), version)

    # -- reading the outcome --------------------------------------------------------

    def task(self, task_id: str) -> Body | None:
        return self.server.objects[TASKS].get(identity(IdKind.TASK, task_id).name)

    def task_status(self, task_id: str) -> Body:
        body = self.task(task_id)
        assert body is not None, f"task {task_id} is gone"
        return dict(body.get("status") or {})

    def node(self, node_id: str) -> Body | None:
        return self.server.objects[NODES].get(identity(IdKind.NODE, node_id).name)

    def node_status(self, node_id: str) -> Body:
        body = self.node(node_id)
        assert body is not None, f"node {node_id} is gone"
        return dict(body.get("status") or {})

    def lease(self, node_id: str) -> Body | None:
        return self.server.objects[LEASES].get(node_lease_name(identity(IdKind.NODE, node_id).name))

    def bound(self) -> dict[str, str]:
        """task id -> node id of every task assigned or running, on the server."""
        return {
            b["spec"]["taskId"]: str(bodies.task_node(b))
            for b in map(bodies.as_task, self.server.objects[TASKS].values())
            if bodies.task_phase(b).bound
        }
