"""Node endpoints: list, get, register, heartbeat, status, delete, and the
node protocol's long-poll for assigned tasks."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from web4ai.api.auth import PRINCIPAL_KEY, Principal
from web4ai.api.bodies import read_model
from web4ai.api.context import CONTEXT, ApiContext
from web4ai.api.errors import ApiError, json_bytes
from web4ai.api.params import id_param
from web4ai.api.presenting import node_public
from web4ai.api.rendering import Rendered, rendered_response
from web4ai.api.renewing import heartbeat_taken, renew_lease
from web4ai.api.routing import NodeAccess, declare, query_param
from web4ai.core import bodies, heartbeats, patches
from web4ai.core.ids import IdKind, identity
from web4ai.core.model import NodeStatus, TaskPhase
from web4ai.core.objects import node_object
from web4ai.core.resources import NODES, TASKS
from web4ai.core.restriction import registration_refusal
from web4ai.core.schemas import openapi, requests, responses
from web4ai.k8s.errors import RACED, Conflict, NotFound

if TYPE_CHECKING:  # the body types name what handlers read; they build none
    from web4ai.core.crs import NodeBody, Patch, TaskBody

routes = web.RouteTableDef()


def node_id_param(request: web.Request) -> str:
    return id_param(request, IdKind.NODE)


async def find_node_fresh(ctx: ApiContext, node_id: str) -> NodeBody:
    """``find_node`` for node calls: before answering 404 from the watch cache, the node
    is re-read from the API server (another API replica may have just registered it)."""
    try:
        return find_node(ctx, node_id)
    except ApiError:
        body = await ctx.writer.get(NODES, identity(IdKind.NODE, node_id).name)
        if body is None or body["metadata"].get("deletionTimestamp"):
            raise
        return ctx.state.record_node(body)


def find_node(ctx: ApiContext, node_id: str) -> NodeBody:
    body = ctx.state.nodes_by_name.get(identity(IdKind.NODE, node_id).name)
    if body is None or body["metadata"].get("deletionTimestamp"):
        raise ApiError(404, "Node not found", "NODE_NOT_FOUND", node_id=node_id)
    return body


@routes.get("/api/v1/nodes", name="nodes")
@declare(response=responses.NodeList)
async def list_nodes(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]

    def render() -> Rendered:
        counts = ctx.state.bound_counts()
        nodes = {
            bodies.node_id(b): node_public(b, ctx.state, running=counts[bodies.node_id(b)])
            for b in ctx.state.nodes_by_name.values()
            if not b["metadata"].get("deletionTimestamp")
        }
        return Rendered(
            json_bytes(
                {
                    "success": True,
                    "nodes": nodes,
                    "total_nodes": len(nodes),
                    "active_nodes": sum(1 for n in nodes.values() if n["status"] == "active"),
                }
            )
        )

    version = ctx.state.versions(ctx.state.nodes, ctx.state.leases, ctx.state.tasks)
    return rendered_response(request, ctx.memoized("nodes", version, render))


@routes.get("/api/v1/nodes/{node_id}", name="node")
@declare(node=NodeAccess.OWN, response=responses.NodeAnswer)
async def get_node(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    body = find_node(ctx, node_id_param(request))
    return web.json_response({"success": True, "node": node_public(body, ctx.state, detailed=True)})


def heartbeat_pace(ctx: ApiContext) -> dict[str, float]:
    """What register and heartbeat answers tell a node about its pace."""
    return {
        "heartbeat_interval": ctx.state.heartbeat_interval(),
        "min_heartbeat_interval": ctx.state.min_heartbeat_interval(),
    }


async def requeue_previous_incarnation(
    ctx: ApiContext, node: NodeBody, boot_id: str | None, now: float
) -> None:
    """A node that comes back as a new incarnation (another ``boot_id``) runs nothing of
    what its previous one held: those tasks go back to the queue at once, with no retry
    charged, instead of waiting out their timeouts."""
    before = node["spec"].get("bootId")
    if not boot_id or not before or before == boot_id:
        return
    node_id = bodies.node_id(node)
    reason = f"node {node_id} restarted (boot {before} -> {boot_id})"
    for task in ctx.state.tasks_by_name.values():
        if bodies.task_node(task) == node_id and bodies.task_phase(task).bound:
            try:
                result = await ctx.writer.patch(
                    TASKS,
                    bodies.name_of(task),
                    patches.requeue_patch(task, reason, now),
                    status=True,
                )
            except RACED:
                continue  # finished or moved meanwhile: nothing to take back
            ctx.state.record_task(result)


def unregistered_meanwhile(node_id: str) -> ApiError:
    """The node object went away while a registration was writing it."""
    return ApiError(
        409, "Node was unregistered meanwhile; retry", "NODE_TERMINATING", node_id=node_id
    )


@routes.post("/api/v1/nodes/{node_id}/register", name="register")
@declare(
    node=NodeAccess.OWN,
    body=openapi.body_schema(requests.Registration),
    response=responses.Registered,
)
async def register(request: web.Request) -> web.Response:
    node_id = node_id_param(request)
    data = await read_model(request, requests.Registration)
    ctx = request.app[CONTEXT]
    return web.json_response(await register_node(ctx, node_id, data, request.get(PRINCIPAL_KEY)))


async def register_node(
    ctx: ApiContext, node_id: str, data: requests.Registration, principal: Principal | None
) -> dict[str, Any]:
    """Register (or re-register) ``node_id`` as ``principal`` asks; the answer's body."""
    ident = identity(IdKind.NODE, node_id)
    spec = data.spec(node_id)
    if principal is not None and principal.role == "node":
        max_agents = ctx.state.settings().max_agents_per_node
        refusal = registration_refusal(spec, max_agents, principal.capabilities)
        if refusal:
            raise ApiError(403, refusal, "FORBIDDEN", max_agents_per_node=max_agents)
    now = ctx.clock()
    existing = ctx.state.nodes_by_name.get(ident.name)
    if existing is None:
        limit = ctx.state.settings().targets.max_nodes
        if len(ctx.state.nodes.store) >= limit:
            raise ApiError(
                409,
                f"The network already has max_nodes={limit} nodes",
                "MAX_NODES_REACHED",
                max_nodes=limit,
            )
        try:
            created = await ctx.writer.create(NODES, node_object(ident, spec))
        except Conflict:
            created = await ctx.writer.read(NODES, ident.name)
        existing = bodies.as_node(created)
    elif existing["metadata"].get("deletionTimestamp"):
        raise ApiError(
            409, "Node is being unregistered; retry shortly", "NODE_TERMINATING", node_id=node_id
        )
    else:  # re-registration replaces what the node declares
        await requeue_previous_incarnation(ctx, existing, data.boot_id, now)
        try:
            existing = bodies.as_node(
                await ctx.writer.patch(
                    NODES, ident.name, patches.spec_replacement(existing["spec"], spec)
                )
            )
        except NotFound:
            raise unregistered_meanwhile(node_id) from None
    status_patch = patches.registration_patch(existing, now)
    try:
        ctx.state.record_node(await ctx.writer.patch(NODES, ident.name, status_patch, status=True))
    except NotFound:
        raise unregistered_meanwhile(node_id) from None
    await renew_lease(ctx, node_id, now)
    return {
        "success": True,
        "node_id": node_id,
        "message": f"Node {node_id} registered successfully",
        **heartbeat_pace(ctx),
    }


STATUS_WRITE_ATTEMPTS = 3


async def write_node_status(
    ctx: ApiContext, body: NodeBody, make_patch: Callable[[NodeBody], Patch | None]
) -> NodeBody | None:
    """``make_patch(body)`` written only onto the version of the node it was computed
    from: a node's effective ``status`` is derived from the admin's intent, the node's
    report and the draining mark, and an unguarded write from a copy that had not yet
    seen the operator park a drained node (maintenance) wrote ``active`` back over it,
    so the node was handed new tasks. A conflict reads the node again and computes the
    patch anew, up to ``STATUS_WRITE_ATTEMPTS`` times. The node as written (as it is,
    when there is nothing to write); None when overtaken each time; 404 when gone."""
    name = bodies.name_of(body)
    for _ in range(STATUS_WRITE_ATTEMPTS):
        patch = make_patch(body)
        if patch is None:
            return body
        try:
            result = await ctx.writer.patch(NODES, name, patches.guarded(body, patch), status=True)
        except Conflict:
            fresh = await ctx.writer.get(NODES, name)
            if fresh is None:
                break
            body = ctx.state.record_node(fresh)
            continue
        except NotFound:
            break
        return ctx.state.record_node(result)
    else:
        return None
    raise ApiError(404, "Node not found", "NODE_NOT_FOUND", node_id=bodies.node_id(body))


async def write_heartbeat_status(
    ctx: ApiContext, data: requests.Heartbeat, body: NodeBody, now: float
) -> None:
    """The heartbeat's status fields, when any moved (``write_node_status``); overtaken
    each time, the next heartbeat writes what still moved. A refresh of a status that
    did not move is kept and written in a batch (``web4ai.api.refreshing``)."""
    refresh = heartbeats.status_refresh(ctx.status_refresh, ctx.state.heartbeat_interval())
    fields, refresh_only = heartbeats.heartbeat_change(data, body, now, refresh)
    if fields is None:
        return
    if refresh_only:
        ctx.refreshes[bodies.node_id(body)] = (data, now)
        return
    await write_node_status(
        ctx, body, lambda node: heartbeats.heartbeat_patch(data, node, now, refresh)
    )


@routes.post("/api/v1/nodes/{node_id}/heartbeat", name="heartbeat")
@declare(
    node=NodeAccess.OWN,
    body=openapi.body_schema(requests.Heartbeat),
    response=responses.HeartbeatAnswer,
)
async def heartbeat(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    node_id = node_id_param(request)
    data = await read_model(request, requests.Heartbeat)
    body = await find_node_fresh(ctx, node_id)
    now = ctx.clock()
    await heartbeat_taken(ctx, body, now)
    await write_heartbeat_status(ctx, data, body, now)
    return web.json_response(
        {
            "success": True,
            "message": "Heartbeat updated",
            **heartbeat_pace(ctx),
            "cancelled_tasks": cancelled_tasks(ctx, node_id, now),
        }
    )


@routes.put("/api/v1/nodes/{node_id}/status", name="node_status")
@declare(
    node=NodeAccess.OWN,
    body=openapi.body_schema(requests.StatusUpdate),
    response=responses.NodeStatusAnswer,
)
async def put_status(request: web.Request) -> web.Response:
    """An admin key sets the admin's intent (``active`` clears it); a node key sets the
    node's own report, which an admin's intent overrides."""
    ctx = request.app[CONTEXT]
    node_id = node_id_param(request)
    data = await read_model(request, requests.StatusUpdate)
    body = find_node(ctx, node_id)
    old = bodies.status_of(body).get("status")
    value = NodeStatus(data.status)
    principal: Principal | None = request.get(PRINCIPAL_KEY)
    now = ctx.clock()
    by_node = principal is not None and principal.role == "node"
    written = await write_node_status(
        ctx, body, lambda node: patches.node_status_patch(node, now, value, by_node=by_node)
    )
    if written is None:
        raise ApiError(
            409, "The node changed while its status was written; retry", "CONFLICT", node_id=node_id
        )
    new = bodies.status_of(written).get("status")
    return web.json_response(
        {
            "success": True,
            "old_status": old,
            "new_status": new,
            "message": f"Node status updated to {new}",
        }
    )


@routes.post("/api/v1/nodes/{node_id}/drain", name="node_drain")
@declare(body=openapi.body_schema(requests.Drain), response=responses.Drained)
async def drain(request: web.Request) -> web.Response:
    """No new tasks; running tasks finish (or are requeued at the optional deadline,
    in seconds from now); then the node goes to maintenance."""
    ctx = request.app[CONTEXT]
    node_id = node_id_param(request)
    data = await read_model(request, requests.Drain)
    body = find_node(ctx, node_id)
    now = ctx.clock()
    patch = patches.drain_patch(now, data.deadline)
    try:
        result = await ctx.writer.patch(NODES, bodies.name_of(body), patch, status=True)
    except NotFound:
        raise ApiError(404, "Node not found", "NODE_NOT_FOUND", node_id=node_id) from None
    ctx.state.record_node(result)
    running = ctx.state.bound_on(node_id)
    return web.json_response(
        {
            "success": True,
            "message": f"Node {node_id} is draining",
            "node_id": node_id,
            "tasks_running": running,
            "deadline": patch["status"]["draining"].get("deadline"),
        }
    )


@routes.delete("/api/v1/nodes/{node_id}", name="node_delete")
@declare(response=responses.Ok)
async def delete_node(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    node_id = node_id_param(request)
    body = find_node(ctx, node_id)
    await ctx.writer.delete(NODES, bodies.name_of(body))
    ctx.renewals.forget(node_id)
    # gone for readers now; the watch brings the rest
    ctx.state.record_node(bodies.marked_deleted(body, ctx.clock()))
    return web.json_response(
        {"success": True, "message": f"Node {node_id} unregistered successfully"}
    )


CANCEL_NOTICE = 600.0  # seconds a node is told of a cancelled task it held


def cancelled_tasks(ctx: ApiContext, node_id: str, now: float) -> list[str]:
    """Ids of tasks this node held that were cancelled lately: it stops their executors.
    Read from the per-node index that the watch keeps (events.note_cancel)."""
    held = ctx.cancelled.get(node_id)
    if not held:
        return []
    for task_id in [t for t, when in held.items() if now - when > CANCEL_NOTICE]:
        del held[task_id]
    return sorted(held)


def assigned_tasks(
    ctx: ApiContext, node_id: str, held: frozenset[str] = frozenset()
) -> list[dict[str, Any]]:
    """Tasks assigned to the node and not yet started, most urgent first, from the
    per-node index the watch keeps (events.note_assignment), less those the node says it
    ``held`` already; entries the store no longer backs (a deleted task) are dropped."""
    names = ctx.assigned.get(node_id)
    if not names:
        return []
    found: list[TaskBody] = []
    for name in list(names):
        body = ctx.state.tasks_by_name.get(name)
        if body is None or bodies.task_node(body) != node_id:
            names.discard(name)
        elif (
            bodies.task_phase(body) is TaskPhase.ASSIGNED
            and str(body["spec"]["taskId"]) not in held
        ):
            found.append(body)
    found.sort(key=lambda b: bodies.task_from_body(b).order)
    return [ctx.task_views.of(b) for b in found]


def withheld(node: NodeBody) -> bool:
    """Whether the node is handed no assigned task now: draining, or in maintenance."""
    return bodies.node_draining(node) is not None or (
        bodies.node_from_body(node, 0).status is NodeStatus.MAINTENANCE
    )


# the request line of a poll stays well under aiohttp's limit (8,190 bytes); a node with
# more held tasks than fit leaves some out and is handed those again (no harm, a re-poll)
MAX_HELD_CHARS = 6000
WAIT_QUERY = query_param("wait", {"type": "number", "minimum": 0, "maximum": 60, "default": 0})
HELD_QUERY = query_param(
    "held",
    {"type": "string", "maxLength": MAX_HELD_CHARS},
    "comma-separated ids of tasks the node already runs without having started them: "
    "left out of the answer, and the long-poll waits while only they are assigned",
)


def held_param(request: web.Request) -> frozenset[str]:
    """The ``held`` query: task ids the node already has (an instant task it runs before
    any ``/start``). Without it a node that polls again while such a task runs is handed
    that task again at once, and polls in a loop until its result lands."""
    raw = request.query.get("held", "")
    if len(raw) > MAX_HELD_CHARS:
        raise ApiError(400, f"held must be at most {MAX_HELD_CHARS} characters", "INVALID_REQUEST")
    return frozenset(x for x in raw.split(",") if x)


@routes.get("/api/v1/nodes/{node_id}/tasks", name="node_tasks")
@declare(node=NodeAccess.OWN, query=[WAIT_QUERY, HELD_QUERY], response=responses.AssignedTasks)
async def node_tasks(request: web.Request) -> web.Response:
    """Node protocol: tasks assigned and not yet started; long-polls up to ``wait`` s."""
    ctx = request.app[CONTEXT]
    node_id = node_id_param(request)
    node = await find_node_fresh(ctx, node_id)
    try:
        wait = float(request.query.get("wait", "0"))
    except ValueError:
        raise ApiError(400, "wait must be a number of seconds", "INVALID_REQUEST") from None
    if not 0 <= wait <= 60:
        raise ApiError(400, "wait must be from 0 to 60 seconds", "INVALID_REQUEST")
    held = held_param(request)
    # a draining node, or one in maintenance, starts nothing new: what was bound to it
    # anyway (the operator had not seen it yet) is withheld here and requeued by the operator
    draining = withheld(node)
    tasks = [] if draining else assigned_tasks(ctx, node_id, held)
    if not tasks and wait > 0 and not ctx.closing:
        event = asyncio.Event()
        ctx.waiters.setdefault(node_id, set()).add(event)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), wait)
        finally:
            ctx.waiters[node_id].discard(event)
            if not ctx.waiters[node_id]:
                del ctx.waiters[node_id]
        now_body = ctx.state.node_by_id(node_id)
        draining = draining or (now_body is not None and withheld(now_body))
        tasks = [] if draining else assigned_tasks(ctx, node_id, held)
    return web.json_response(
        {
            "success": True,
            "tasks": tasks,
            "cancelled_tasks": cancelled_tasks(ctx, node_id, ctx.clock()),
        }
    )
