"""POST /tasks/{task_id}/progress: the holding node's report on a running task
(documented addition). The report is a ``task_progress`` WebSocket message at once;
``status.progress`` is written at most once per task every 2 s with the latest report
(``web4ai.core.progress``), in the background, guarded like every task write."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from aiohttp import web

from web4ai.api.bodies import read_model
from web4ai.api.context import CONTEXT, ApiContext
from web4ai.api.errors import ApiError
from web4ai.api.routing import NodeAccess, declare
from web4ai.api.tasks import check_assignment, find_task, guarded_update, read_task, task_id_param
from web4ai.core import bodies, patches
from web4ai.core.progress import Report
from web4ai.core.schemas import openapi, requests, responses

if TYPE_CHECKING:  # the body types name what handlers read; they build none
    from web4ai.core.crs import Patch, TaskBody

log = logging.getLogger(__name__)

routes = web.RouteTableDef()


@routes.post("/api/v1/tasks/{task_id}/progress", name="task_progress")
@declare(
    node=NodeAccess.ANY,
    body=openapi.body_schema(requests.TaskProgress),
    response=responses.ProgressAnswer,
)
async def progress(request: web.Request) -> web.Response:
    """Report the progress of an active task (node protocol)."""
    ctx = request.app[CONTEXT]
    task_id = task_id_param(request)
    data = await read_model(request, requests.TaskProgress)
    try:
        body = find_task(ctx, task_id)
        check_assignment(request, body, data.node_id)
    except ApiError as exc:
        if exc.status not in (404, 409):
            raise
        # this replica's cache may lag behind another's write: ask the API server
        body = await read_task(ctx, task_id)
        check_assignment(request, body, data.node_id)
    now = ctx.clock()
    report = Report(data.percent, data.message, now)
    shown = {"percent": report.percent, "message": report.message, "updated_at": now}
    ctx.hub.publish(
        "task_progress", {"task_id": task_id, "node_id": data.node_id, **shown}, node=data.node_id
    )
    name = bodies.name_of(body)
    delay = ctx.progress.offer(name, report, now)
    if delay == 0:  # the first report in 2 s: written before the answer
        await write_later(ctx, task_id, data.node_id, name, 0)
    elif delay is not None:
        job = asyncio.create_task(write_later(ctx, task_id, data.node_id, name, delay))
        ctx.progress_writes.add(job)
        job.add_done_callback(ctx.progress_writes.discard)
    return web.json_response({"success": True, "task_id": task_id, "progress": shown})


async def write_later(ctx: ApiContext, task_id: str, node_id: str, name: str, delay: float) -> None:
    """After ``delay``: write the latest report, if the task is still active on the node."""
    if delay:
        await asyncio.sleep(delay)
    report = ctx.progress.take(name, ctx.clock())
    if report is None:
        return

    def check(body: TaskBody) -> None:
        if not bodies.task_phase(body).bound or bodies.task_node(body) != node_id:
            raise ApiError(409, "no longer active on the node", "TASK_NOT_ASSIGNED")

    def build(body: TaskBody) -> Patch:
        return patches.progress_patch(body, report)

    try:
        await guarded_update(ctx, task_id, check, build)
    except ApiError:
        ctx.progress.forget(name)  # finished meanwhile: nothing to write
    except Exception as exc:  # the next report writes again
        log.warning("could not write the progress of task %s: %r", task_id, exc)


async def writes(app: web.Application) -> AsyncIterator[None]:
    """The progress writes still waiting are dropped at shutdown (aiohttp cleanup_ctx):
    progress is news, and the task's next report writes again."""
    yield
    ctx = app[CONTEXT]
    jobs = list(ctx.progress_writes)
    for job in jobs:
        job.cancel()
    await asyncio.gather(*jobs, return_exceptions=True)
