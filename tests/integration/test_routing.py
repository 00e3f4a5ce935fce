"""Model-aware routing and affinity on the real stack (API, operator, kube-apiserver):
a warm node wins over a less loaded cold one; a conversation keeps its node and moves
once that node is full or gone; the models show on the node; bad input."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.conftest import Stack
from tests.integration.apiclient import Http, assert_error
from tests.integration.helpers import eventually


@pytest.fixture
def http(stack: Stack) -> Http:
    return Http(stack.api.base, stack.headers)


def agents(node: str, served: list[str], loaded: list[str], count: int = 2) -> list[Any]:
    return [
        {"agent_id": f"{node}-a{i}", "specialized_models": served, "loaded_models": loaded}
        for i in range(count)
    ]


async def register(http: Http, node: str, served: list[str], loaded: list[str], **kw: Any) -> None:
    body = {
        "host": "127.0.0.1",
        "port": 8090,
        "capabilities": [f"cap-{node}"],
        "agents": agents(node, served, loaded),
        **kw,
    }
    status, answer = await http.post(f"/nodes/{node}/register", body)
    assert status == 200, answer


async def submit(http: Http, task_id: str, **requirements: Any) -> None:
    body = {"task_id": task_id, "task_type": "inference", "requirements": requirements}
    status, answer = await http.post("/tasks", body)
    assert status == 200, answer


async def bound(http: Http, task_id: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        _, body = await http.get(f"/tasks/{task_id}")
        task: dict[str, Any] = body["task"]
        return task if task["status"] == "active" else None

    return await eventually(probe)


async def finish(http: Http, task: dict[str, Any]) -> None:
    status, body = await http.post(
        f"/tasks/{task['task_id']}/result", {"node_id": task["node_id"], "status": "completed"}
    )
    assert status == 200, body


async def test_a_warm_node_wins_over_a_less_loaded_cold_one(http: Http) -> None:
    model = f"m-{uuid.uuid4().hex[:6]}"
    assert (
        await http.put("/config", {"network": {"load_balance_algorithm": "least_connections"}})
    )[0] == 200
    await register(http, "warm-1", [model, "other"], [model], max_concurrent_tasks=4)
    await register(http, "cold-1", [model, "other"], ["other"], max_concurrent_tasks=4)
    # the warm node gets busier: one task only it can take
    await submit(http, "warm-filler", capabilities=["cap-warm-1"])
    filler = await bound(http, "warm-filler")
    assert filler["node_id"] == "warm-1"
    # least connections alone would pick the idle cold node; its agents do not hold
    # the model, the warm node's second agent does
    await submit(http, "warm-wins", model=model)
    task = await bound(http, "warm-wins")
    assert task["node_id"] == "warm-1"
    scheduled = next(c for c in task["conditions"] if c["type"] == "Scheduled")
    assert scheduled["message"] == f"assigned to warm-1: model {model} loaded on a free agent"
    # with routing off, the algorithm alone picks (among the nodes that serve the model)
    assert (await http.put("/config", {"network": {"model_aware_routing": False}}))[0] == 200
    try:
        await submit(http, "cold-wins", model=model)
        assert (await bound(http, "cold-wins"))["node_id"] == "cold-1"
    finally:
        await http.put("/config", {"network": {"model_aware_routing": True}})
    for task_id in ("warm-filler", "warm-wins", "cold-wins"):
        _, body = await http.get(f"/tasks/{task_id}")
        await finish(http, body["task"])
    # the models show on the node, per agent and in total
    _, body = await http.get("/nodes/warm-1")
    node = body["node"]
    assert node["models"] == sorted([model, "other"]) and node["loaded_models"] == [model]
    assert node["agents"][0]["loaded_models"] == [model]
    assert node["agents"][0]["specialized_models"] == [model, "other"]
    # a heartbeat reports a swap: the node status shows it at once
    status, _ = await http.post(
        "/nodes/cold-1/heartbeat", {"agents": [{"agent_id": "cold-1-a0", "loaded_models": [model]}]}
    )
    assert status == 200

    async def swapped() -> bool:
        _, body = await http.get("/nodes/cold-1")
        return bool(body["node"]["loaded_models"] == sorted([model, "other"]))

    await eventually(swapped)


async def test_no_node_serves_the_model(http: Http) -> None:
    await register(http, "plain-1", ["llama"], ["llama"])
    await submit(http, "unserved", model="no-such-model")

    async def explained() -> str | None:
        _, body = await http.get("/tasks/unserved")
        conditions = body["task"].get("conditions") or []
        return next((c["message"] for c in conditions if c["type"] == "Scheduled"), None)

    message = await eventually(explained)
    assert message.startswith("model no-such-model not served by any active node (0/")
    _, body = await http.get("/tasks/unserved")
    assert body["task"]["status"] == "pending"
    assert (await http.post("/tasks/unserved/cancel"))[0] == 200


async def test_a_conversation_stays_on_its_node_and_moves_when_full_or_gone(http: Http) -> None:
    model = f"chat-{uuid.uuid4().hex[:6]}"
    ids = [f"conv-node-{i}" for i in range(3)]
    for node in ids:
        await register(http, node, [model], [model], max_concurrent_tasks=1)
    key = "conversation-42"
    turns: list[str] = []
    for turn in range(3):
        await submit(http, f"turn-{turn}", model=model, affinity_key=key)
        task = await bound(http, f"turn-{turn}")
        turns.append(task["node_id"])
        scheduled = next(c for c in task["conditions"] if c["type"] == "Scheduled")
        assert f"affinity key {key}" in scheduled["message"]
        await finish(http, task)
    home = turns[0]
    assert turns == [home] * 3
    # its node full (one task only it can take): the next turn moves
    await submit(http, "home-filler", capabilities=[f"cap-{home}"])
    filler = await bound(http, "home-filler")
    assert filler["node_id"] == home
    await submit(http, "turn-full", model=model, affinity_key=key)
    moved = await bound(http, "turn-full")
    assert moved["node_id"] != home
    scheduled = next(c for c in moved["conditions"] if c["type"] == "Scheduled")
    assert f"{home} does not fit" in scheduled["message"]
    await finish(http, moved)
    await finish(http, filler)
    # back to its node once there is room again
    await submit(http, "turn-back", model=model, affinity_key=key)
    back = await bound(http, "turn-back")
    assert back["node_id"] == home
    await finish(http, back)
    # its node gone: the next node on the ring, the same one as when it was full
    assert (await http.delete(f"/nodes/{home}"))[0] == 200

    async def gone() -> bool:
        status, _ = await http.get(f"/nodes/{home}")
        return status == 404

    await eventually(gone)
    await submit(http, "turn-gone", model=model, affinity_key=key)
    after = await bound(http, "turn-gone")
    assert after["node_id"] == moved["node_id"]
    await finish(http, after)


@pytest.mark.parametrize(
    ("requirements", "field"),
    [
        ({"model": "m" * 254}, "requirements.model"),
        ({"model": ""}, "requirements.model"),
        ({"model": 7}, "requirements.model"),
        ({"affinity_key": "k" * 257}, "requirements.affinity_key"),
        ({"affinity_key": "a\nb"}, "requirements.affinity_key"),
    ],
)
async def test_model_and_affinity_key_are_bounded(
    http: Http, requirements: dict[str, Any], field: str
) -> None:
    status, body = await http.post("/tasks", {"task_type": "x", "requirements": requirements})
    assert_error(status, body, 400, "INVALID_REQUEST")
    assert [e["field"] for e in body["details"]["errors"]] == [field]


async def test_agent_models_are_bounded(http: Http) -> None:
    status, body = await http.post(
        "/nodes/too-many-models/register",
        {"host": "h", "agents": [{"agent_id": "a", "loaded_models": ["x"] * 257}]},
    )
    assert_error(status, body, 400, "INVALID_REQUEST")
    assert body["details"]["errors"][0]["field"] == "agents[0].loaded_models"
    await register(http, "bounded-1", ["m"], ["m"])
    status, body = await http.post(
        "/nodes/bounded-1/heartbeat", {"agents": [{"agent_id": "a", "loaded_models": ["y" * 254]}]}
    )
    assert_error(status, body, 400, "INVALID_REQUEST")
