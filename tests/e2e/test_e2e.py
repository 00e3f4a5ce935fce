"""End to end: real control plane, operator, API and node processes."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import ADMIN_KEY, Stack
from tests.e2e.conftest import NodeProcess
from tests.integration.helpers import ApiProcess, OperatorProcess, eventually
from web4ai.client import AsyncClient, Web4AIError

pytestmark = pytest.mark.timeout(300)  # waits up to 120 s for tasks, after starting processes


async def all_active(client: AsyncClient, ids: set[str]) -> bool:
    nodes = await client.list_nodes()
    return ids <= {n for n, v in nodes.items() if v["status"] == "active"}


async def test_a_hundred_mixed_tasks_complete_with_real_results(
    stack: Stack, nodes: list[NodeProcess]
) -> None:
    async with AsyncClient(stack.api.base, ADMIN_KEY) as client:
        await eventually(lambda: all_active(client, {n.node_id for n in nodes}))
        kinds: list[tuple[str, dict[str, Any]]] = [
            ("test_task", {"message": "Hello, Web4AI!"}),
            (
                "data_processing",
                {
                    "records": [{"v": 1, "k": "a"}, {"v": 2, "k": "b"}, {"v": 3, "k": "a"}],
                    "filter": {"k": "a"},
                },
            ),
            ("data_processing", {"batch_id": 7, "data": "batch_7_data words here"}),
            ("ai_inference", {"prompt": "Explain quantum computing", "max_tokens": 50}),
        ]
        ids = [
            await client.submit(kind, input_data=data, priority=1 + i % 5)
            for i in range(100)
            for kind, data in [kinds[i % 4]]
        ]
        results = await asyncio.gather(*(client.wait(t, timeout=120) for t in ids))
    assert [r["status"] for r in results] == ["completed"] * 100
    by_kind = {r["task_type"]: r for r in results}
    assert by_kind["test_task"]["result"]["echo"] == {"message": "Hello, Web4AI!"}
    dp = [r["result"] for r in results if r["task_type"] == "data_processing"]
    assert any(
        d.get("fields", {}).get("v")
        == {"count": 2, "sum": 4.0, "mean": 2.0, "min": 1.0, "max": 3.0}
        for d in dp
    )
    assert any(d.get("words") == 3 and d.get("batch_id") == 7 for d in dp)
    ai = by_kind["ai_inference"]["result"]
    assert ai["text"] == "3 words: gnitupmoc mutnauq nialpxE" and ai["model"] == "tiny"
    assert len({r["node_id"] for r in results}) >= 2  # spread over the nodes


async def test_an_unknown_task_type_fails_with_a_clear_error(
    stack: Stack, nodes: list[NodeProcess]
) -> None:
    async with AsyncClient(stack.api.base, ADMIN_KEY) as client:
        task_id = await client.submit("quantum_teleport", max_retries=0)
        task = await client.wait(task_id, timeout=60)
        assert task["status"] == "failed"
        assert "unknown task type 'quantum_teleport'" in task["error_message"]
        with_no_endpoint = await client.submit(
            "ai_inference",
            input_data={"prompt": "x"},
            max_retries=0,
            requirements={"capabilities": ["nope"]},
        )
        try:
            await client.get("no-such-task")
        except Web4AIError as exc:
            assert (exc.status, exc.code) == (404, "TASK_NOT_FOUND")
        else:
            raise AssertionError("expected TASK_NOT_FOUND")
        assert (await client.get(with_no_endpoint))["status"] == "pending"


async def test_killing_a_node_mid_task_retries_it_elsewhere(
    stack: Stack, nodes: list[NodeProcess], tmp_path: Path
) -> None:
    # Only the victim, then only the rescuer, has the task's capability: a preference
    # would not do, since every node reports this machine's cpu and a busy run can put
    # the victim over the threshold for a moment, sending the task elsewhere.
    def node(name: str) -> NodeProcess:
        return NodeProcess(
            stack,
            name,
            tmp_path,
            "--agents",
            "1",
            "--node-type",
            name,
            "--capabilities",
            "test_task,slow,handover",
        )

    victim = node("victim")
    rescuer: NodeProcess | None = None
    try:
        async with AsyncClient(stack.api.base, ADMIN_KEY) as client:
            # nodes beat every second; 3 x 2 s of silence makes one offline
            await client.request("PUT", "/config", {"orchestrator": {"heartbeat_interval": 2}})
            await eventually(lambda: all_active(client, {"victim"}))
            task_id = await client.submit(
                "test_task",
                input_data={"sleep_seconds": 4},
                requirements={"capabilities": ["handover"]},
            )

            async def running_on_victim() -> bool:
                t = await client.get(task_id)
                assert t["node_id"] in (None, "victim"), t
                return bool(t["phase"] == "running" and t["node_id"] == "victim")

            await eventually(running_on_victim, within=60)
            rescuer = node("rescuer")
            victim.stop(signal.SIGKILL)
            task = await client.wait(task_id, timeout=90)
            await client.request("PUT", "/config", {"orchestrator": {"heartbeat_interval": 30}})
        assert task["status"] == "completed"
        assert task["node_id"] == "rescuer"
        assert task["retry_count"] == 1
        assert task["assigned_nodes"] == ["rescuer"]  # the current holder only
        assert task["attempts"][0]["node_id"] == "victim"  # the history
    finally:
        victim.stop()
        if rescuer is not None:
            rescuer.stop()


async def test_restarting_operator_and_api_mid_run_loses_nothing(
    stack: Stack, nodes: list[NodeProcess], cluster: Any, tmp_path: Path
) -> None:
    async with AsyncClient(stack.api.base, ADMIN_KEY) as client:
        ids = [
            await client.submit("test_task", input_data={"i": i, "sleep_seconds": 0.3})
            for i in range(40)
        ]
    # both stateless processes go away mid-run and come back on the same address
    stack.operator.stop()
    stack.api.stop()
    await asyncio.sleep(2)
    stack.operator = OperatorProcess(
        stack.identities["operator"], stack.namespace, tmp_path / "operator2.log"
    )
    stack.api = ApiProcess(
        stack.identities["api"],
        stack.namespace,
        tmp_path / "api2.log",
        ADMIN_KEY,
        port=stack.api.port,
        ws_port=stack.api.ws_port,
    )
    await stack.api.wait_ready()
    async with AsyncClient(stack.api.base, ADMIN_KEY) as client:
        results = await asyncio.gather(*(client.wait(t, timeout=120) for t in ids))
    assert [r["status"] for r in results] == ["completed"] * 40
    assert sorted(r["result"]["echo"]["i"] for r in results) == list(range(40))
    rebound = [
        (r["task_id"], r["assigned_nodes"], r.get("error_message"))
        for r in results
        if len(r["assigned_nodes"]) != 1
    ]
    assert not rebound  # none bound twice


def test_the_bulk_operations_script_example(stack: Stack, nodes: list[NodeProcess]) -> None:
    """The document's Python client, as written (plus the API key header)."""
    import time

    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}

    class OrchestratorClient:
        def __init__(self, base_url: str = stack.api.base) -> None:
            self.base_url = base_url

        def submit_task(self, task_data: dict[str, Any]) -> Any:
            response = requests.post(f"{self.base_url}/tasks", json=task_data, headers=headers)
            return response.json()

        def get_task_status(self, task_id: str) -> Any:
            response = requests.get(f"{self.base_url}/tasks/{task_id}", headers=headers)
            return response.json()

        def wait_for_task(self, task_id: str, timeout: float = 300) -> Any:
            start_time = time.time()
            while time.time() - start_time < timeout:
                result = self.get_task_status(task_id)
                if result["success"]:
                    status = result["task"]["status"]
                    if status in ["completed", "failed"]:
                        return result["task"]
                time.sleep(2)
            raise TimeoutError(f"Task {task_id} timed out")

    client = OrchestratorClient()
    tasks = []
    for i in range(10):
        task_data = {
            "task_type": "data_processing",
            "input_data": {"batch_id": i, "data": f"batch_{i}_data"},
            "priority": 3,
        }
        result = client.submit_task(task_data)
        if result["success"]:
            tasks.append(result["task_id"])
    completed_tasks = [client.wait_for_task(task_id, timeout=60) for task_id in tasks]
    assert len(completed_tasks) == 10
    assert all(t["status"] == "completed" for t in completed_tasks)
    assert sorted(t["result"]["batch_id"] for t in completed_tasks) == list(range(10))


def test_zz_the_logs_hold_neither_keys_nor_task_input(
    stack: Stack, nodes: list[NodeProcess], tmp_path_factory: Any
) -> None:
    """Last of the run: plant a secret in a task's input, also pass it as a wrong key,
    finish the task on a real node, then grep every log this session wrote."""
    from web4ai.client import Client

    secret = "planted-secret-" + ADMIN_KEY[-12:][::-1]
    with Client(stack.api.base, ADMIN_KEY) as client:
        task_id = client.submit("test_task", input_data={"password": secret})
        result = client.wait(task_id, timeout=120)
    assert result["status"] == "completed"
    assert result["result"]["echo"] == {"password": secret}
    wrong = requests.get(
        f"{stack.api.base}/nodes", headers={"Authorization": f"Bearer {secret}"}, timeout=30
    )
    assert wrong.status_code == 401
    logs = [p for p in Path(tmp_path_factory.getbasetemp()).rglob("*.log") if p.is_file()]
    assert any(p.name.startswith("api") for p in logs)
    assert any(p.name.startswith("e2e-node") for p in logs)
    for path in logs:
        text = path.read_text(errors="replace")
        assert ADMIN_KEY not in text, path
        assert secret not in text, path
