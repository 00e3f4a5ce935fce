"""A task and a node as the API shows them, each read through its typed view
(``web4ai.core.schemas.views``: the spec and status under the API's names). The API's
presenting module (``web4ai.api.presenting``) renders both from here, and the operator's
callbacks send a task as ``task_public`` shows it. Pure."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any, Required

from typing_extensions import TypedDict

from web4ai.core.bodies import (
    node_capacity,
    parse_time,
    status_of,
    submitted_at,
    task_node,
    task_phase,
    task_status,
)
from web4ai.core.crs import NodeBody, TaskBody
from web4ai.core.defaults import NODE_SPEC_DEFAULTS as NODE
from web4ai.core.defaults import TASK_SPEC_DEFAULTS as TASK
from web4ai.core.model import NodeStatus
from web4ai.core.routing import agents_now
from web4ai.core.schemas.views import NODE_VIEW, TASK_VIEW, AgentView, NodeStatusView, NodeView

Doc = dict[str, Any]  # a JSON document as the API answers it

# -- a task ------------------------------------------------------------------------------

# what the API shows when the stored spec or status lacks it (the CRD's defaults)
TASK_DEFAULTS: dict[str, Any] = {
    "priority": TASK["priority"],
    "timeout": TASK["timeout"],
    "max_retries": TASK["maxRetries"],
    "requirements": TASK["requirements"],
    "input_data": {},
    "metadata": {},
    "retry_count": 0,
    "node_id": None,
    "agent_id": None,
}
TASK_TIMES = ("assigned_at", "started_at", "completed_at")
ATTEMPT_TIMES = ("assigned_at", "started_at", "finished_at")


def _attempt(view: dict[str, Any]) -> dict[str, Any]:
    error = view.pop("error", None)
    out: dict[str, Any] = {
        "node_id": None,
        "agent_id": None,
        "outcome": None,
        **view,
        "error_message": view.get("error_message") or error,
    }
    for key in ATTEMPT_TIMES:
        out[key] = parse_time(view.get(key))
    return out


def task_public(body: TaskBody) -> Doc:
    """A task as the API shows it (GET /tasks/{id}, callbacks; its model is
    ``responses.Task``): the spec and status under the API's names (``TaskView``), the
    phase, the holder and the times as Unix seconds."""
    view = TASK_VIEW.validate_python(body)
    status: dict[str, Any] = dict(view.get("status") or {})
    phase, node = task_phase(body), task_node(body)
    out: dict[str, Any] = {**TASK_DEFAULTS}
    out.update((k, v) for k, v in view["spec"].items() if v is not None)
    out.pop("submitted_at", None)
    out |= {
        "status": phase.status.value,
        "phase": phase.value,
        "assigned_nodes": [node] if node and not phase.waiting else [],
        "created_at": submitted_at(body),
        "attempts": [_attempt(dict(a)) for a in status.pop("attempts", None) or []],
    }
    for key in TASK_TIMES:
        value = parse_time(status.pop(key, None))
        if value is not None:
            out[key] = value
    if status.get("progress"):
        progress = dict(status.pop("progress") or {})
        out["progress"] = {**progress, "updated_at": parse_time(progress.get("updated_at"))}
    out.update((k, v) for k, v in status.items() if v is not None)
    return out


# -- a node ------------------------------------------------------------------------------


class Models(TypedDict):
    """The models a node's agents serve and hold loaded now (documented addition)."""

    models: list[str]
    loaded_models: list[str]


class AgentModels(TypedDict):
    agent_id: str
    specialized_models: list[str]
    loaded_models: list[str]


class NodeModels(Models):
    """``node_models_changed``'s data: the node's models, in total and per agent."""

    node_id: str
    agents: list[AgentModels]


class AgentPublic(TypedDict):
    """An agent in GET /nodes/{id}."""

    agent_id: str
    agent_type: str | None
    status: str
    capabilities: list[str]
    specialized_models: list[str]
    loaded_models: list[str]
    tasks_running: int
    tasks_completed: int
    efficiency_score: float
    last_activity: float | None


class NodePublic(TypedDict, total=False):
    """A node as the API shows it; GET /nodes adds its counters, GET /nodes/{id} its
    counters, metadata, registration time and agents. ``models`` and ``loaded_models`` when an agent
    names a model, ``drain_deadline`` while it drains (documented additions)."""

    node_id: Required[str]
    host: Required[str]
    port: Required[int | None]
    node_type: Required[str | None]
    status: Required[str | None]
    admin_status: Required[str | None]
    reported_status: Required[str | None]
    draining: Required[bool]
    capabilities: Required[list[str]]
    agents_count: Required[int | None]
    max_concurrent_tasks: Required[int]
    cpu_usage: Required[float]
    memory_usage: Required[float]
    gpu_usage: Required[float]
    load_score: Required[float]
    network_latency: Required[float | None]
    last_heartbeat: Required[float | None]
    version: Required[str | None]
    location: Required[str | None]
    uptime: Required[float | None]
    models: list[str]
    loaded_models: list[str]
    drain_deadline: float | None
    # with its counters (GET /nodes and GET /nodes/{id})
    reliability_score: float
    tasks_completed: int
    tasks_failed: int
    tasks_running: int
    # in detail (GET /nodes/{id})
    metadata: dict[str, Any]
    registered_at: float | None
    agents: list[AgentPublic]


def node_view(body: NodeBody) -> NodeView:
    """The node under the API's names, with its agents now (``agents_now``)."""
    spec, status = body["spec"], status_of(body)
    agents = agents_now(spec.get("agents") or [], status.get("agents") or [])
    return NODE_VIEW.validate_python({"spec": spec, "status": status, "agents": agents})


def models_public(agents: Sequence[AgentView]) -> Models:
    return {
        "models": sorted({x for a in agents for x in a.get("specialized_models") or ()}),
        "loaded_models": sorted({x for a in agents for x in a.get("loaded_models") or ()}),
    }


def node_models(body: NodeBody) -> NodeModels:
    agents = node_view(body).get("agents") or []
    return {
        "node_id": body["spec"]["nodeId"],
        **models_public(agents),
        "agents": [
            {
                "agent_id": a["agent_id"],
                "specialized_models": a.get("specialized_models") or [],
                "loaded_models": a.get("loaded_models") or [],
            }
            for a in agents
        ],
    }


def node_public(
    body: NodeBody,
    last: float | None,
    *,
    running: int | None = None,
    tasks: Sequence[TaskBody] | None = None,
) -> NodePublic:
    """A node as the API shows it, ``last`` its last sign of life: with its counters
    when ``running`` (its tasks assigned or running) is given, as GET /nodes lists it;
    in detail with ``tasks`` (the tasks it holds or held), as GET /nodes/{id} shows it."""
    view = node_view(body)
    spec, status, agents = view["spec"], view.get("status") or {}, view.get("agents") or []
    draining = status.get("draining")
    out: NodePublic = {
        "node_id": spec["node_id"],
        "host": spec["host"],
        "port": spec.get("port", NODE["port"]),
        "node_type": spec.get("node_type", NODE["nodeType"]),
        "status": status.get("status", NodeStatus.OFFLINE.value),
        "admin_status": status.get("admin_status"),
        "reported_status": status.get("reported_status"),
        "draining": bool(draining),
        "capabilities": list(spec.get("capabilities") or []),
        "agents_count": spec.get("agents_count", NODE["agentsCount"]),
        "max_concurrent_tasks": node_capacity(body),
        "cpu_usage": float(status.get("cpu_usage", 0.0)),
        "memory_usage": float(status.get("memory_usage", 0.0)),
        "gpu_usage": float(status.get("gpu_usage", 0.0)),
        "load_score": float(status.get("load_score", 0.0)),
        "network_latency": status.get("network_latency"),
        "last_heartbeat": last,
        "version": spec.get("version", NODE["version"]),
        "location": spec.get("location"),
        "uptime": status.get("uptime"),
    }
    if any(a.get("specialized_models") or a.get("loaded_models") for a in agents):
        models = models_public(agents)
        out["models"], out["loaded_models"] = models["models"], models["loaded_models"]
    if draining:
        out["drain_deadline"] = draining.get("deadline")
    if tasks is not None:
        running = sum(1 for t in tasks if task_phase(t).bound)
    if running is not None:  # the counters
        out["reliability_score"] = float(status.get("reliability_score", 1.0))
        out["tasks_completed"] = int(status.get("tasks_completed", 0))
        out["tasks_failed"] = int(status.get("tasks_failed", 0))
        out["tasks_running"] = running
    if tasks is not None:
        out["metadata"] = spec.get("metadata") or {}
        out["registered_at"] = parse_time(status.get("registered_at"))
        out["agents"] = [agent_public(a, tasks, status, last) for a in agents]
    return out


def agent_public(
    agent: AgentView, tasks: Sequence[TaskBody], status: NodeStatusView, last: float | None
) -> AgentPublic:
    mine = [t for t in tasks if status_of(t).get("agentId") == agent["agent_id"]]
    done = Counter(task_status(t).value for t in mine)
    finished = done["completed"] + done["failed"]
    return {
        "agent_id": agent["agent_id"],
        "agent_type": agent.get("agent_type"),
        "status": "active" if status.get("status") == NodeStatus.ACTIVE.value else "inactive",
        "capabilities": agent.get("capabilities") or [],
        "specialized_models": agent.get("specialized_models") or [],
        "loaded_models": agent.get("loaded_models") or [],
        "tasks_running": sum(1 for t in mine if task_phase(t).bound),
        "tasks_completed": done["completed"],
        "efficiency_score": round(done["completed"] / finished, 4) if finished else 1.0,
        "last_activity": last,
    }
