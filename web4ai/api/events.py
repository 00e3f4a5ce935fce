"""Cache transitions -> WebSocket messages and long-poll wake-ups."""

from __future__ import annotations

from web4ai.api.context import ApiContext
from web4ai.api.presenting import node_models, node_public
from web4ai.core import bodies
from web4ai.core.crs import NodeBody, OrchestratorBody, TaskBody
from web4ai.core.model import NodeStatus, TaskPhase

TASK_MESSAGES = {
    TaskPhase.ASSIGNED: "task_assigned",
    TaskPhase.RUNNING: "task_started",
    TaskPhase.RETRYING: "task_requeued",
    TaskPhase.COMPLETED: "task_completed",
    TaskPhase.FAILED: "task_failed",
    TaskPhase.CANCELLED: "task_cancelled",
}


def on_task(ctx: ApiContext, new: TaskBody, old: TaskBody | None) -> None:
    after = bodies.task_phase(new)
    if after in (TaskPhase.ASSIGNED, TaskPhase.CANCELLED) and (node := bodies.task_node(new)):
        ctx.wake(node)
    note_assignment(ctx, new, old, after)
    note_cancel(ctx, new, old, after)
    if not ctx.state.tasks.synced.is_set():
        return  # the initial list is history, not news
    # the task's public view is made only when a connected client may see it
    if old is None:
        node = bodies.task_node(new)
        if ctx.hub.wants(node):
            ctx.hub.publish("task_submitted", ctx.task_views.of(new), node=node)
        return
    if bodies.task_phase(old) is not after and after in TASK_MESSAGES:
        node = bodies.task_node(new) or bodies.task_node(old)
        if ctx.hub.wants(node):
            ctx.hub.publish(TASK_MESSAGES[after], ctx.task_views.of(new), node=node)


def note_assignment(ctx: ApiContext, new: TaskBody, old: TaskBody | None, after: TaskPhase) -> None:
    """Keep the per-node index of assigned, not yet started tasks (what a poll offers)."""
    name = bodies.name_of(new)
    if old is not None and (before := bodies.task_node(old)):
        ctx.assigned.get(before, set()).discard(name)
    if after is TaskPhase.ASSIGNED and (node := bodies.task_node(new)):
        ctx.assigned.setdefault(node, set()).add(name)


def note_cancel(ctx: ApiContext, new: TaskBody, old: TaskBody | None, after: TaskPhase) -> None:
    """Keep the per-node index of cancelled tasks (heartbeats and polls read it, so they
    never scan every task); a retried task leaves it."""
    task_id = str(new["spec"]["taskId"])
    if after is TaskPhase.CANCELLED and (node := bodies.task_node(new)):
        when = bodies.parse_time(bodies.status_of(new).get("completedAt")) or ctx.clock()
        ctx.cancelled.setdefault(node, {})[task_id] = when
    elif old is not None and bodies.task_phase(old) is TaskPhase.CANCELLED:
        held = ctx.cancelled.get(bodies.task_node(old) or "", {})
        held.pop(task_id, None)


def on_orchestrator(ctx: ApiContext, new: OrchestratorBody, old: OrchestratorBody | None) -> None:
    """``node_discovered`` for each endpoint whose probe newly found a node to join."""
    if not ctx.state.orchestrators.synced.is_set():
        return

    def joined(body: OrchestratorBody | None) -> dict[str, str]:
        found = (bodies.status_of(body).get("discovery") if body is not None else None) or []
        return {d["endpoint"]: d.get("nodeId", "") for d in found if d.get("state") == "joined"}

    before = joined(old)
    for endpoint, node_id in joined(new).items():
        if before.get(endpoint) != node_id:
            ctx.hub.publish("node_discovered", {"endpoint": endpoint, "node_id": node_id})


def on_node(ctx: ApiContext, new: NodeBody, old: NodeBody | None) -> None:
    if not ctx.state.nodes.synced.is_set():
        return
    if old is not None and (
        bodies.status_of(old).get("agents") != bodies.status_of(new).get("agents")
        or old["spec"].get("agents") != new["spec"].get("agents")
    ):
        ctx.hub.publish("node_models_changed", node_models(new), node=bodies.node_id(new))
    before = bodies.node_status(old) if old is not None else None
    after = bodies.node_status(new)
    if before is after or after is None:
        return
    if before is None:  # the first status: registration is complete
        if ctx.hub.wants(bodies.node_id(new)):
            ctx.hub.publish(
                "node_registered", node_public(new, ctx.state), node=bodies.node_id(new)
            )
        return
    data = {
        "node_id": bodies.node_id(new),
        "old_status": before.value if before else None,
        "new_status": after.value,
    }
    ctx.hub.publish("node_status_changed", data, node=data["node_id"])
    if after is NodeStatus.OFFLINE:
        ctx.hub.publish(
            "node_failure", {**data, "reason": "heartbeat lease expired"}, node=data["node_id"]
        )
