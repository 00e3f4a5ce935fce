"""Micro-benchmark: request/response models, pydantic v2 vs msgspec vs the hand-written code.

    python -m bench.models [--number 2000] [--repeat 15]

Three paths, each from the bytes that arrive to the bytes that leave:
  * heartbeat: request body -> validated -> the node status fields (camelCase) -> JSON;
  * submit: task-submit request body -> validated -> the Web4AITask spec -> JSON;
  * task response: a Web4AITask body (as the watch cache holds it) -> the API's task
    object (snake_case) -> JSON.

Implementations:
  * ``current``: ``json.loads`` + the old ``web4ai.core.validation`` schemas (read
    from git, as of commit 5afaf73, before the typed models) + the hand-written
    mappers (kept below as the baseline);
  * ``pydantic``: one ``BaseModel`` per body, snake_case names, camelCase aliases;
    ``model_validate_json`` (strict) + ``model_dump_json(by_alias=True)``;
  * ``msgspec``: a ``Struct`` per body for the request (snake_case) and one for the CR
    spec (``rename="camel"``); ``msgspec.json.decode(type=...)`` + ``msgspec.convert`` +
    ``msgspec.json.encode``;
  * ``web4ai``: what the API runs now (``web4ai.core.schemas``).

Prints the median microseconds per call of ``--repeat`` timings of ``--number`` calls and
the ratio to ``current``. Both libraries must be installed (pydantic is a dependency,
msgspec a dev dependency for this script).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import timeit
import types
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from web4ai.core import bodies
from web4ai.core import limits as lim
from web4ai.core.egress import url_form_problem
from web4ai.core.schemas import errors, public, requests

BEFORE = "5afaf73"  # main before the typed models


def validation_before(rev: str = BEFORE) -> types.ModuleType:
    """``web4ai/core/validation.py`` as of ``rev``, read from git and loaded as a module
    (with a stand-in for ``web4ai.core.callbacks``, since gone)."""
    source = subprocess.run(
        ["git", "show", f"{rev}:web4ai/core/validation.py"],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    module = types.ModuleType(f"validation_{rev}")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    # what the old module imported and has moved since: a stand-in, for this bench only
    moved = types.ModuleType("web4ai.core.callbacks")
    moved.url_problem = url_form_problem  # type: ignore[attr-defined]
    sys.modules.setdefault("web4ai.core.callbacks", moved)
    exec(compile(source, f"{rev}:web4ai/core/validation.py", "exec"), module.__dict__)
    return module


baseline = validation_before()

# -- inputs ----------------------------------------------------------------------

HEARTBEAT = json.dumps(
    {
        "status": "active",
        "cpu_usage": 25.5,
        "memory_usage": 45.2,
        "gpu_usage": 0.0,
        "load_score": 0.35,
        "tasks_running": 2,
        "network_latency": 1.2,
        "memory_total_mb": 16000.0,
        "uptime": 12345.6,
        "agents_status": {"agent_001": "busy"},
        "timestamp": 1718542180.456,
    }
).encode()

SUBMIT = json.dumps(
    {
        "task_type": "ai_inference",
        "priority": 2,
        "input_data": {"prompt": "Hello world", "max_tokens": 64},
        "requirements": {"capabilities": ["ai_inference"], "min_cpu": 20, "min_memory": 1024},
        "timeout": 300,
        "max_retries": 3,
        "metadata": {"user_id": "user_123", "session_id": "session_456"},
    }
).encode()

TASK_BODY: dict[str, Any] = {
    "apiVersion": "web4ai.io/v1alpha1",
    "kind": "Web4AITask",
    "metadata": {"name": "task-abc123", "resourceVersion": "42"},
    "spec": {
        "taskId": "task_abc123",
        "taskType": "ai_inference",
        "submittedAt": "2025-06-16T10:30:00.000000Z",
        "priority": 2,
        "timeout": 300,
        "maxRetries": 3,
        "requirements": {"capabilities": ["gpu_processing"], "minCpu": 20, "minMemory": 1024},
        "inputData": {"prompt": "Hello world"},
        "metadata": {"user_id": "user_123"},
    },
    "status": {
        "status": "completed",
        "phase": "completed",
        "nodeId": "enhanced-node-abc123",
        "agentId": "agent_001",
        "retryCount": 0,
        "assignedAt": "2025-06-16T10:30:01.000000Z",
        "startedAt": "2025-06-16T10:30:02.000000Z",
        "completedAt": "2025-06-16T10:30:45.000000Z",
        "executionTime": 45.555,
        "result": {"text": "Hi"},
        "performanceMetrics": {"cpu_usage": 67.2},
        "attempts": [
            {
                "nodeId": "enhanced-node-abc123",
                "agentId": "agent_001",
                "assignedAt": "2025-06-16T10:30:01.000000Z",
                "startedAt": "2025-06-16T10:30:02.000000Z",
                "finishedAt": "2025-06-16T10:30:45.000000Z",
                "outcome": "completed",
            }
        ],
    },
}
TASK_BYTES = json.dumps(TASK_BODY).encode()

# -- current: the hand-written code ------------------------------------------------


def current_heartbeat(raw: bytes) -> bytes:
    data = baseline.validate(json.loads(raw), baseline.HEARTBEAT)
    new: dict[str, Any] = {}
    for key, field in (
        ("cpu_usage", "cpuUsage"),
        ("memory_usage", "memoryUsage"),
        ("gpu_usage", "gpuUsage"),
        ("load_score", "loadScore"),
        ("network_latency", "networkLatency"),
        ("uptime", "uptime"),
        ("tasks_running", "tasksRunning"),
    ):
        if key in data:
            new[field] = data[key]
    agents = dict(data.get("agents_status") or {})
    if "memory_total_mb" in data:
        agents["memory_total_mb"] = data["memory_total_mb"]
    if agents:
        new["agentsStatus"] = agents
    return json.dumps(new).encode()


def current_task_spec(task_id: str, data: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {"taskId": task_id, "taskType": data["task_type"]}
    for key, field in (
        ("priority", "priority"),
        ("input_data", "inputData"),
        ("timeout", "timeout"),
        ("max_retries", "maxRetries"),
        ("deadline", "deadline"),
        ("callback_url", "callbackUrl"),
        ("metadata", "metadata"),
    ):
        if key in data:
            spec[field] = data[key]
    if "requirements" in data:
        spec["requirements"] = {
            field: data["requirements"][key]
            for key, field in (
                ("capabilities", "capabilities"),
                ("min_cpu", "minCpu"),
                ("min_memory", "minMemory"),
                ("preferred_nodes", "preferredNodes"),
                ("exclude_nodes", "excludeNodes"),
            )
            if key in data["requirements"]
        }
    return spec


def current_submit(raw: bytes) -> bytes:
    data = baseline.validate(json.loads(raw), baseline.TASK)
    return json.dumps(current_task_spec("task_1", data)).encode()


def current_attempt_public(attempt: dict[str, Any]) -> dict[str, Any]:
    return {
        "node_id": attempt.get("nodeId"),
        "agent_id": attempt.get("agentId"),
        "assigned_at": bodies.parse_time(attempt.get("assignedAt")),
        "started_at": bodies.parse_time(attempt.get("startedAt")),
        "finished_at": bodies.parse_time(attempt.get("finishedAt")),
        "outcome": attempt.get("outcome"),
        "error_message": attempt.get("errorMessage") or attempt.get("error"),
    }


def current_task_body(body: dict[str, Any]) -> dict[str, Any]:
    """task_public (now web4ai.core.schemas.public) before the models, verbatim."""
    spec, status = body["spec"], body.get("status") or {}
    req = spec.get("requirements") or {}
    task = bodies.as_task(body)
    phase, node = bodies.task_phase(task), bodies.task_node(task)
    out: dict[str, Any] = {
        "task_id": spec["taskId"],
        "task_type": spec["taskType"],
        "status": phase.status.value,
        "phase": phase.value,
        "priority": spec.get("priority", 3),
        "assigned_nodes": [node] if node and not phase.waiting else [],
        "created_at": bodies.submitted_at(task),
        "timeout": spec.get("timeout", 300),
        "max_retries": spec.get("maxRetries", 3),
        "retry_count": status.get("retryCount", 0),
        "node_id": status.get("nodeId"),
        "agent_id": status.get("agentId"),
        "requirements": {
            k: v
            for k, v in {
                "capabilities": req.get("capabilities"),
                "min_cpu": req.get("minCpu"),
                "min_memory": req.get("minMemory"),
                "preferred_nodes": req.get("preferredNodes"),
                "exclude_nodes": req.get("excludeNodes"),
            }.items()
            if v is not None
        },
        "input_data": spec.get("inputData") or {},
        "metadata": spec.get("metadata") or {},
        "attempts": [current_attempt_public(a) for a in status.get("attempts") or []],
    }
    optional = {
        "deadline": spec.get("deadline"),
        "callback_url": spec.get("callbackUrl"),
        "assigned_at": bodies.parse_time(status.get("assignedAt")),
        "started_at": bodies.parse_time(status.get("startedAt")),
        "completed_at": bodies.parse_time(status.get("completedAt")),
        "execution_time": status.get("executionTime"),
        "result": status.get("result"),
        "error_message": status.get("errorMessage"),
        "performance_metrics": status.get("performanceMetrics"),
        "conditions": status.get("conditions"),  # why a pending task waits (scheduler)
    }
    out.update({k: v for k, v in optional.items() if v is not None})
    return out


def current_task_public(raw: bytes) -> bytes:
    return json.dumps(current_task_body(json.loads(raw))).encode()


# -- pydantic ----------------------------------------------------------------------

Pct = Annotated[float, Field(ge=0, le=100)]
NonNeg = Annotated[float, Field(ge=0)]
Name = Annotated[str, Field(min_length=1, max_length=lim.NAME_MAX)]
Node = Annotated[str, Field(min_length=1, max_length=lim.ID_MAX)]


class PModel(BaseModel):
    model_config = ConfigDict(
        strict=True,
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=False,
        serialize_by_alias=True,
        allow_inf_nan=False,
    )


class PHeartbeat(PModel):
    status: Literal["active", "offline", "maintenance", "degraded", "error"] | None = None
    cpu_usage: Pct | None = None
    memory_usage: Pct | None = None
    gpu_usage: Pct | None = None
    load_score: NonNeg | None = None
    tasks_running: Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    network_latency: NonNeg | None = None
    memory_total_mb: NonNeg | None = None
    uptime: NonNeg | None = None
    agents_status: dict[str, Any] | None = None
    timestamp: str | float | None = None


def pydantic_heartbeat(raw: bytes) -> bytes:
    hb = PHeartbeat.model_validate_json(raw)
    return hb.model_dump_json(
        include={
            "cpu_usage",
            "memory_usage",
            "gpu_usage",
            "load_score",
            "network_latency",
            "uptime",
            "tasks_running",
            "agents_status",
        },
        exclude_none=True,
    ).encode()


class PRequirements(PModel):
    capabilities: Annotated[list[Name], Field(max_length=lim.CAPABILITIES_MAX)] | None = None
    min_cpu: Pct | None = None
    min_memory: NonNeg | None = None
    preferred_nodes: Annotated[list[Node], Field(max_length=lim.NODE_LIST_MAX)] | None = None
    exclude_nodes: Annotated[list[Node], Field(max_length=lim.NODE_LIST_MAX)] | None = None


class PTask(PModel):
    task_id: Node | None = None
    task_type: Name
    priority: Annotated[int, Field(ge=1, le=5)] | None = None
    requirements: PRequirements | None = None
    input_data: dict[str, Any] | None = None
    timeout: Annotated[int, Field(ge=1, le=604800)] | None = None
    max_retries: Annotated[int, Field(ge=0, le=100)] | None = None
    deadline: NonNeg | None = None
    callback_url: Annotated[str, Field(max_length=2048)] | None = None
    metadata: dict[str, Any] | None = None


def pydantic_submit(raw: bytes) -> bytes:
    task = PTask.model_validate_json(raw)
    task.task_id = "task_1"
    return task.model_dump_json(exclude_none=True).encode()


class PAttempt(PModel):
    node_id: str | None = None
    agent_id: str | None = None
    assigned_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    outcome: str | None = None
    error_message: str | None = None


class PSpec(PModel):
    model_config = ConfigDict(strict=False, validate_by_alias=True, serialize_by_alias=False)
    task_id: str
    task_type: str
    priority: int = 3
    timeout: int = 300
    max_retries: int = 3
    requirements: PRequirements = PRequirements()
    input_data: dict[str, Any] = {}
    metadata: dict[str, Any] = {}
    deadline: float | None = None
    callback_url: str | None = None


class PStatus(PModel):
    model_config = ConfigDict(strict=False, validate_by_alias=True, serialize_by_alias=False)
    status: str | None = None
    phase: str | None = None
    node_id: str | None = None
    agent_id: str | None = None
    retry_count: int = 0
    assigned_at: str | None = None
    started_at: str | None = None
    completed_at: str | None = None
    execution_time: float | None = None
    result: Any = None
    error_message: str | None = None
    performance_metrics: dict[str, Any] | None = None
    attempts: list[PAttempt] = []


class PBody(BaseModel):
    spec: PSpec
    status: PStatus = PStatus()


def pydantic_task_public(raw: bytes) -> bytes:
    body = PBody.model_validate_json(raw)
    out = body.spec.model_dump(exclude_none=True, by_alias=False)
    out.update(body.status.model_dump(exclude_none=True, by_alias=False))
    return json.dumps(out).encode()


# -- msgspec -----------------------------------------------------------------------

MPct = Annotated[float, msgspec.Meta(ge=0, le=100)]
MNonNeg = Annotated[float, msgspec.Meta(ge=0)]
MName = Annotated[str, msgspec.Meta(min_length=1, max_length=lim.NAME_MAX)]
MNode = Annotated[str, msgspec.Meta(min_length=1, max_length=lim.ID_MAX)]


class MHeartbeat(msgspec.Struct, omit_defaults=True):
    status: Literal["active", "offline", "maintenance", "degraded", "error"] | None = None
    cpu_usage: MPct | None = None
    memory_usage: MPct | None = None
    gpu_usage: MPct | None = None
    load_score: MNonNeg | None = None
    tasks_running: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] | None = None
    network_latency: MNonNeg | None = None
    memory_total_mb: MNonNeg | None = None
    uptime: MNonNeg | None = None
    agents_status: dict[str, Any] | None = None
    timestamp: str | float | None = None


class MHeartbeatStatus(msgspec.Struct, omit_defaults=True, rename="camel"):
    cpu_usage: float | None = None
    memory_usage: float | None = None
    gpu_usage: float | None = None
    load_score: float | None = None
    network_latency: float | None = None
    uptime: float | None = None
    tasks_running: int | None = None
    agents_status: dict[str, Any] | None = None


def msgspec_heartbeat(raw: bytes) -> bytes:
    hb = msgspec.json.decode(raw, type=MHeartbeat)
    out = msgspec.convert(msgspec.structs.asdict(hb), MHeartbeatStatus, from_attributes=False)
    return msgspec.json.encode(out)


class MRequirements(msgspec.Struct, omit_defaults=True):
    capabilities: Annotated[list[MName], msgspec.Meta(max_length=256)] | None = None
    min_cpu: MPct | None = None
    min_memory: MNonNeg | None = None
    preferred_nodes: Annotated[list[MNode], msgspec.Meta(max_length=1024)] | None = None
    exclude_nodes: Annotated[list[MNode], msgspec.Meta(max_length=1024)] | None = None


class MTask(msgspec.Struct, omit_defaults=True):
    task_type: MName
    task_id: MNode | None = None
    priority: Annotated[int, msgspec.Meta(ge=1, le=5)] | None = None
    requirements: MRequirements | None = None
    input_data: dict[str, Any] | None = None
    timeout: Annotated[int, msgspec.Meta(ge=1, le=604800)] | None = None
    max_retries: Annotated[int, msgspec.Meta(ge=0, le=100)] | None = None
    deadline: MNonNeg | None = None
    callback_url: Annotated[str, msgspec.Meta(max_length=2048)] | None = None
    metadata: dict[str, Any] | None = None


class MRequirementsSpec(msgspec.Struct, omit_defaults=True, rename="camel"):
    capabilities: list[str] | None = None
    min_cpu: float | None = None
    min_memory: float | None = None
    preferred_nodes: list[str] | None = None
    exclude_nodes: list[str] | None = None


class MTaskSpec(msgspec.Struct, omit_defaults=True, rename="camel"):
    task_id: str
    task_type: str
    priority: int | None = None
    requirements: MRequirementsSpec | None = None
    input_data: dict[str, Any] | None = None
    timeout: int | None = None
    max_retries: int | None = None
    deadline: float | None = None
    callback_url: str | None = None
    metadata: dict[str, Any] | None = None


def msgspec_submit(raw: bytes) -> bytes:
    task = msgspec.json.decode(raw, type=MTask)
    task.task_id = "task_1"
    spec = msgspec.convert(task, MTaskSpec, from_attributes=True)
    return msgspec.json.encode(spec)


class MAttempt(msgspec.Struct, rename="camel"):
    node_id: str | None = None
    agent_id: str | None = None
    assigned_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    outcome: str | None = None
    error_message: str | None = None


class MSpec(msgspec.Struct, rename="camel"):
    task_id: str
    task_type: str
    priority: int = 3
    timeout: int = 300
    max_retries: int = 3
    requirements: MRequirementsSpec | None = None
    input_data: dict[str, Any] = {}
    metadata: dict[str, Any] = {}
    deadline: float | None = None
    callback_url: str | None = None


class MStatus(msgspec.Struct, rename="camel"):
    status: str | None = None
    phase: str | None = None
    node_id: str | None = None
    agent_id: str | None = None
    retry_count: int = 0
    assigned_at: str | None = None
    started_at: str | None = None
    completed_at: str | None = None
    execution_time: float | None = None
    result: Any = None
    error_message: str | None = None
    performance_metrics: dict[str, Any] | None = None
    attempts: list[MAttempt] = []


class MBody(msgspec.Struct):
    spec: MSpec
    status: MStatus = msgspec.field(default_factory=MStatus)


def msgspec_task_public(raw: bytes) -> bytes:
    body = msgspec.json.decode(raw, type=MBody)
    # snake_case out: the Structs' attribute names, not their (camel) JSON names
    out = {k: val for k, val in msgspec.structs.asdict(body.spec).items() if val is not None}
    out.update(
        {k: val for k, val in msgspec.structs.asdict(body.status).items() if val is not None}
    )
    out["requirements"] = msgspec.structs.asdict(body.spec.requirements or MRequirementsSpec())
    out["attempts"] = [msgspec.structs.asdict(a) for a in body.status.attempts]
    return msgspec.json.encode(out)


# -- web4ai: what the API runs ------------------------------------------------------


def web4ai_heartbeat(raw: bytes) -> bytes:
    hb = errors.parse(requests.Heartbeat, raw)
    return json.dumps(hb.status_fields()).encode()


def web4ai_submit(raw: bytes) -> bytes:
    task = errors.parse(requests.TaskSubmit, raw)
    return json.dumps(task.spec("task_1", 300, "2025-06-16T10:30:00.000000Z")).encode()


def web4ai_task_public(raw: bytes) -> bytes:
    return json.dumps(public.task_public(json.loads(raw))).encode()


PATHS: dict[str, tuple[bytes, dict[str, Callable[[bytes], bytes]]]] = {
    "heartbeat": (
        HEARTBEAT,
        {
            "current": current_heartbeat,
            "pydantic": pydantic_heartbeat,
            "msgspec": msgspec_heartbeat,
            "web4ai": web4ai_heartbeat,
        },
    ),
    "submit": (
        SUBMIT,
        {
            "current": current_submit,
            "pydantic": pydantic_submit,
            "msgspec": msgspec_submit,
            "web4ai": web4ai_submit,
        },
    ),
    "task response": (
        TASK_BYTES,
        {
            "current": current_task_public,
            "pydantic": pydantic_task_public,
            "msgspec": msgspec_task_public,
            "web4ai": web4ai_task_public,
        },
    ),
}


def median_us(fn: Callable[[bytes], bytes], raw: bytes, number: int, repeat: int) -> float:
    fn(raw)  # warm up, and fail early
    times = timeit.repeat(lambda: fn(raw), number=number, repeat=repeat)
    return statistics.median(times) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    impls = ("current", "pydantic", "msgspec", "web4ai")
    print(
        "| path | "
        + " | ".join(f"{i} µs" for i in impls)
        + " | "
        + " | ".join(f"{i}/current" for i in impls[1:])
        + " |"
    )
    print("|---" * (1 + 2 * len(impls) - 1) + "|")
    for path, (raw, fns) in PATHS.items():
        us = {name: median_us(fns[name], raw, args.number, args.repeat) for name in impls}
        cells = [f"{us[i]:.2f}" for i in impls] + [
            f"{us[i] / us['current']:.2f}" for i in impls[1:]
        ]
        print(f"| {path} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
