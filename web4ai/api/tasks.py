"""Task endpoints: submit, list, get, and the node protocol's start and result."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from aiohttp import web

from web4ai.api.auth import PRINCIPAL_KEY, Principal
from web4ai.api.bodies import read_model
from web4ai.api.context import CONTEXT, ApiContext
from web4ai.api.errors import ApiError, json_bytes
from web4ai.api.params import choice_query, id_param, int_query
from web4ai.api.presenting import TASK_GROUPS, TASK_PHASES, task_listing
from web4ai.api.rendering import Rendered, rendered_response
from web4ai.api.routing import NodeAccess, declare, query_param
from web4ai.core import bodies, patches
from web4ai.core import validation as v
from web4ai.core.ids import IdKind, identity, new_task_id
from web4ai.core.model import TaskPhase, TaskStatus
from web4ai.core.objects import task_object
from web4ai.core.resources import TASKS
from web4ai.core.schemas import openapi, requests, responses
from web4ai.k8s.errors import RACED, Conflict, Invalid

if TYPE_CHECKING:  # the body types name what handlers read; they build none
    from web4ai.core.crs import Patch, TaskBody

routes = web.RouteTableDef()


def task_id_param(request: web.Request) -> str:
    return id_param(request, IdKind.TASK)


def find_task(ctx: ApiContext, task_id: str) -> TaskBody:
    body = ctx.state.tasks_by_name.get(identity(IdKind.TASK, task_id).name)
    if body is None:
        raise ApiError(404, "Task not found", "TASK_NOT_FOUND", task_id=task_id)
    return body


LIST_QUERY = [
    query_param("status", {"type": "string", "enum": ["pending", "active", "completed", "failed"]}),
    query_param("phase", {"type": "string", "enum": [p.value for p in TaskPhase]}),
    query_param("limit", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 50}),
    query_param("offset", {"type": "integer", "minimum": 0, "default": 0}),
]


@routes.post("/api/v1/tasks", name="tasks_submit")
@declare(body=openapi.body_schema(requests.TaskSubmit), response=responses.Submitted)
async def submit(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    data = await read_model(request, requests.TaskSubmit)
    if data.callback_url is not None:
        refusal = ctx.state.settings().egress_policy().url_refusal(data.callback_url)
        if refusal:
            raise v.ValidationFailed([v.FieldError("callback_url", f"refused: {refusal}")])
    if ctx.state.settings().paused:
        raise ApiError(
            503,
            "Orchestrator is stopped; POST /api/v1/control/start resumes it",
            "ORCHESTRATOR_NOT_STARTED",
        )
    task_id = data.task_id or new_task_id(os.urandom(8))
    ident = identity(IdKind.TASK, task_id)
    if ident.name in ctx.state.tasks.store:
        raise ApiError(409, f"Task {task_id} already exists", "TASK_EXISTS", task_id=task_id)
    timeout = ctx.state.settings().task_timeout
    body = task_object(ident, data.spec(task_id, timeout, bodies.format_time(ctx.clock())))
    try:
        created = await ctx.writer.create(TASKS, body)
    except Conflict:
        raise ApiError(
            409, f"Task {task_id} already exists", "TASK_EXISTS", task_id=task_id
        ) from None
    except Invalid as exc:
        raise ApiError(
            400, f"Task rejected by the schema: {exc.reason}", "INVALID_REQUEST"
        ) from None
    ctx.state.record_task(created)
    return web.json_response(
        {"success": True, "task_id": task_id, "message": "Task submitted successfully"}
    )


@routes.get("/api/v1/tasks", name="tasks")
@declare(query=LIST_QUERY, response=responses.TaskList)
async def list_tasks(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    status = choice_query(request, "status", TASK_GROUPS)
    phase = choice_query(request, "phase", TASK_PHASES)
    limit = int_query(request, "limit", 50, 1, 1000)
    offset = int_query(request, "offset", 0, 0, 10_000_000)
    body = ctx.memoized(
        ("tasks", status, phase, limit, offset),
        ctx.state.versions(ctx.state.tasks),
        lambda: Rendered(json_bytes(task_listing(ctx.state, status, limit, offset, phase))),
    )
    return rendered_response(request, body)


@routes.get("/api/v1/tasks/{task_id}", name="task")
@declare(response=responses.TaskAnswer)
async def get_task(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    task_id = task_id_param(request)
    body = find_task(ctx, task_id)
    principal: Principal | None = request.get(PRINCIPAL_KEY)
    if (
        principal is not None
        and principal.role == "node"
        and bodies.task_node(body) != principal.node_id
    ):
        raise ApiError(403, "a node key may read only the tasks assigned to it", "FORBIDDEN")
    whole = await ctx.full_tasks.whole(ctx.writer, body)  # a finished task is lean here
    if whole is None:
        raise ApiError(404, "Task not found", "TASK_NOT_FOUND", task_id=task_id)
    return web.json_response({"success": True, "task": ctx.task_views.of(whole)})


def check_assignment(request: web.Request, body: TaskBody, node_id: str) -> None:
    principal: Principal | None = request.get(PRINCIPAL_KEY)
    if principal is not None and principal.role == "node" and principal.node_id != node_id:
        raise ApiError(403, f"a node key may act only as node {principal.node_id}", "FORBIDDEN")
    phase = bodies.task_phase(body)
    if phase.terminal:
        raise ApiError(
            409, f"Task is already {phase.value}", "TASK_FINISHED", task_id=body["spec"]["taskId"]
        )
    if not phase.bound or bodies.task_node(body) != node_id:
        raise ApiError(
            409,
            f"Task is not assigned to node {node_id}",
            "TASK_NOT_ASSIGNED",
            task_id=body["spec"]["taskId"],
            node_id=node_id,
        )


async def read_task(ctx: ApiContext, task_id: str) -> TaskBody:
    """The task as the API server has it now (not the watch cache); 404 when gone."""
    body = await ctx.writer.get(TASKS, identity(IdKind.TASK, task_id).name)
    if body is None:
        raise ApiError(404, "Task not found", "TASK_NOT_FOUND", task_id=task_id)
    return ctx.state.record_task(body)


async def guarded_update(
    ctx: ApiContext,
    task_id: str,
    check: Callable[[TaskBody], None],
    build: Callable[[TaskBody], Patch],
) -> TaskBody:
    """Apply ``build(body) -> patch`` guarded by resourceVersion; on a conflict re-read
    the task from the API server and ``check`` again (someone else may have acted).
    Before answering 404 or 409 from the watch cache, the task is re-read from the API
    server: with several API replicas this one's cache may lag behind another's write."""
    cached = ctx.state.tasks_by_name.get(identity(IdKind.TASK, task_id).name)
    body = cached if cached is not None else await read_task(ctx, task_id)
    fresh = cached is None
    for _ in range(3):
        try:
            check(body)
        except ApiError as exc:
            if fresh or exc.status not in (404, 409):
                raise
            body, fresh = await read_task(ctx, task_id), True
            check(body)
        try:
            result = await ctx.writer.patch(TASKS, bodies.name_of(body), build(body), status=True)
        except RACED:
            body, fresh = await read_task(ctx, task_id), True  # 404 when it is gone
            continue
        return ctx.state.record_task(result)
    raise ApiError(409, "Task is changing too fast; retry", "CONFLICT", task_id=task_id)


@routes.post("/api/v1/tasks/{task_id}/start", name="task_start")
@declare(
    node=NodeAccess.ANY,
    body=openapi.body_schema(requests.TaskStart),
    response=responses.TaskAnswer,
)
async def start(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    task_id = task_id_param(request)
    data = await read_model(request, requests.TaskStart)
    now = ctx.clock()

    def build(body: TaskBody) -> Patch:
        return patches.start_patch(body, data.agent_id, now)

    result = await guarded_update(
        ctx, task_id, lambda b: check_assignment(request, b, data.node_id), build
    )
    return web.json_response({"success": True, "task": ctx.task_views.of(result)})


@routes.post("/api/v1/tasks/{task_id}/result", name="task_result")
@declare(
    node=NodeAccess.ANY,
    body=openapi.body_schema(requests.TaskResult),
    response=responses.TaskAnswer,
)
async def result(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    task_id = task_id_param(request)
    data = await read_model(request, requests.TaskResult)
    now = ctx.clock()

    updated = await guarded_update(
        ctx,
        task_id,
        lambda b: check_assignment(request, b, data.node_id),
        lambda b: patches.result_patch(b, data, now),
    )
    return web.json_response({"success": True, "task": ctx.task_views.of(updated)})


@routes.post("/api/v1/tasks/{task_id}/cancel", name="task_cancel")
@declare(response=responses.TaskAnswer)
async def cancel(request: web.Request) -> web.Response:
    """End a pending or active task: failed, phase cancelled, the canceller named in
    error_message. The node holding it learns of it on its next poll or heartbeat."""
    ctx = request.app[CONTEXT]
    task_id = task_id_param(request)
    principal: Principal | None = request.get(PRINCIPAL_KEY)
    by = principal.name if principal is not None else "anonymous"
    now = ctx.clock()

    def check(body: TaskBody) -> None:
        phase = bodies.task_phase(body)
        if phase.terminal:
            raise ApiError(409, f"Task is already {phase.value}", "TASK_FINISHED", task_id=task_id)

    updated = await guarded_update(
        ctx, task_id, check, lambda b: patches.cancel_patch(b, f"{by} (API key)", now)
    )
    return web.json_response(
        {
            "success": True,
            "message": f"Task {task_id} cancelled",
            "task": ctx.task_views.of(updated),
        }
    )


@routes.post("/api/v1/tasks/{task_id}/retry", name="task_retry")
@declare(response=responses.TaskAnswer)
async def retry(request: web.Request) -> web.Response:
    """Queue a failed (or cancelled) task again, with its retries reset."""
    ctx = request.app[CONTEXT]
    task_id = task_id_param(request)
    if ctx.state.settings().paused:
        raise ApiError(
            503,
            "Orchestrator is stopped; POST /api/v1/control/start resumes it",
            "ORCHESTRATOR_NOT_STARTED",
        )
    now = ctx.clock()

    def check(body: TaskBody) -> None:
        if bodies.task_status(body) is not TaskStatus.FAILED:
            raise ApiError(
                409,
                f"Only a failed task can be retried; this one is {bodies.task_status(body).value}",
                "TASK_NOT_FAILED",
                task_id=task_id,
            )

    updated = await guarded_update(ctx, task_id, check, lambda b: patches.retry_patch(b, now))
    return web.json_response(
        {
            "success": True,
            "message": f"Task {task_id} queued again",
            "task": ctx.task_views.of(updated),
        }
    )
