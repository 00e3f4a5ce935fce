"""Issue 9, node agent: a 404 makes it register again and keep polling; refused
credentials end the process non-zero; a loop that ends ends the process."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from typing import Any

import pytest

from tests.conftest import Stack
from tests.integration.apiclient import Http
from tests.integration.helpers import REPO, eventually
from web4ai.node.agent import LoopEnded, NodeAgent
from web4ai.node.config import NodeConfig
from web4ai.node.executors import ExecutionContext


@pytest.fixture
def http(stack: Stack) -> Http:
    return Http(stack.api.base, stack.headers)


def agent_config(stack: Stack, node_id: str, **kw: Any) -> NodeConfig:
    return NodeConfig(
        orchestrator_url=stack.api.base,
        api_key=stack.headers["Authorization"].removeprefix("Bearer "),
        node_id=node_id,
        agents=1,
        poll_wait=1,
        **kw,
    )


async def echo(data: dict[str, Any], ctx: ExecutionContext) -> Any:
    return {"echo": data}


async def finished(http: Http, task_id: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        _, b = await http.get(f"/tasks/{task_id}")
        return b["task"] if b["task"]["status"] in ("completed", "failed") else None

    return await eventually(probe, within=90)  # the machine may be busy


async def test_after_being_unregistered_the_node_registers_again_and_keeps_working(
    http: Http, stack: Stack
) -> None:
    # a reference node reports the machine's cpu: a busy machine is no reason to wait
    idle = {"cpu_threshold": 100, "memory_threshold": 100}
    status, body = await http.put("/config", {"performance": idle})
    assert status == 200, body
    # configured slower than the orchestrator's 30 s: it must follow the orchestrator
    config = agent_config(stack, "comeback-node", heartbeat_interval=120.0)
    agent = NodeAgent(config, executors={"comeback": echo})
    stop = asyncio.Event()
    serving = asyncio.create_task(agent.serve(stop))
    try:
        task = {"task_type": "comeback", "requirements": {"capabilities": ["comeback"]}}
        status, body = await http.post("/tasks", {**task, "task_id": "before-delete"})
        assert status == 200, body
        assert (await finished(http, "before-delete"))["status"] == "completed"
        # the register answer told the node the orchestrator's heartbeat interval
        _, config = await http.get("/config")
        assert agent.heartbeat_every == config["config"]["orchestrator"]["heartbeat_interval"]
        assert agent.heartbeat_every != agent.config.heartbeat_interval
        status, body = await http.delete("/nodes/comeback-node")
        assert status == 200, body

        async def registered_again() -> bool:
            status, _ = await http.get("/nodes/comeback-node")
            return status == 200

        await eventually(registered_again)
        status, body = await http.post("/tasks", {**task, "task_id": "after-delete"})
        assert status == 200, body
        done = await finished(http, "after-delete")
        assert done["status"] == "completed" and done["node_id"] == "comeback-node"
        assert not serving.done()
    finally:
        stop.set()
        await serving


async def test_a_crashed_loop_ends_the_agent(stack: Stack) -> None:
    agent = NodeAgent(agent_config(stack, "crashing-node"), executors={"x": echo})

    async def broken() -> None:
        raise RuntimeError("boom")

    agent.heartbeats = broken  # type: ignore[method-assign]
    with pytest.raises(LoopEnded, match="heartbeats loop ended"):
        await asyncio.wait_for(agent.serve(asyncio.Event()), 60)


def test_refused_credentials_end_the_process_non_zero(stack: Stack) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "web4ai.node",
            "--orchestrator-url",
            stack.api.base,
            "--api-key",
            "not-the-key",
            "--node-id",
            "unauthorised-node",
            "--agents",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=REPO,
    )
    assert proc.returncode == 3, proc.stderr[-2000:]
    assert "refused this node's credentials" in proc.stderr
