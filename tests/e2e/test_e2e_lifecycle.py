"""End to end with real node processes: auto-discovery, cancel and drain."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from devtools.localcluster.controlplane import die_with_parent
from tests.conftest import ADMIN_KEY, Cluster, Stack
from tests.e2e.conftest import NodeProcess
from tests.integration.helpers import REPO, eventually, free_port
from web4ai.client import AsyncClient

INTERVAL = 5  # orchestrator.heartbeat_interval for the discovery test


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    return tmp_path


def listening_node(node_id: str, port: int, log_dir: Path) -> subprocess.Popen[bytes]:
    """A reference node with --listen and no orchestrator URL: it waits to be found."""
    env = {k: v for k, v in os.environ.items() if k not in ("WEB4AI_URL", "WEB4AI_API_KEY")}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "web4ai",
            "node",
            "--node-id",
            node_id,
            "--listen",
            f"127.0.0.1:{port}",
            "--capabilities",
            f"{node_id}-cap,test_task",
            "--poll-wait",
            "2",
        ],
        stdout=(log_dir / f"{node_id}.log").open("ab"),
        stderr=subprocess.STDOUT,
        env={**env, "PYTHONPATH": str(REPO)},
        preexec_fn=die_with_parent,
    )


async def test_a_listening_node_is_discovered_joins_and_completes_a_task(
    stack: Stack, cluster: Cluster, logs: Path
) -> None:
    port = free_port()
    proc = listening_node("found-node", port, logs)
    unreachable = f"http://127.0.0.1:{free_port()}"
    not_a_node = stack.api.base.rsplit("/api/v1", 1)[0]  # answers, but is no node
    try:
        async with AsyncClient(stack.api.base, ADMIN_KEY) as client:
            await client.request(
                "PUT",
                "/config",
                {
                    "orchestrator": {"auto_discovery": True, "heartbeat_interval": INTERVAL},
                    "network": {
                        "discovery_endpoints": [f"http://127.0.0.1:{port}", unreachable, not_a_node]
                    },
                    "performance": {"cpu_threshold": 100, "memory_threshold": 100},
                },
            )
            started = time.monotonic()
            task_id = await client.submit(
                "test_task",
                input_data={"message": "found you"},
                requirements={"capabilities": ["found-node-cap"]},
            )
            # joins and completes a task within two heartbeat intervals
            done = await client.wait(task_id, timeout=2 * INTERVAL)
            took = time.monotonic() - started
            assert done["status"] == "completed" and done["node_id"] == "found-node"
            assert done["result"]["echo"] == {"message": "found you"}
            print(f"discovered, joined and completed in {took:.1f}s")

            async def reported() -> dict[str, Any] | None:
                status = await client.request("GET", "/status")
                found = {e["endpoint"]: e for e in status["data"]["discovery"]["endpoints"]}
                return found if len(found) == 3 else None

            found = await eventually(reported, within=3 * INTERVAL)
            assert found[unreachable]["state"] == "unreachable"
            assert found[not_a_node]["state"] == "not_a_node"
            assert found[f"http://127.0.0.1:{port}"]["node_id"] == "found-node"
            events = cluster.kubectl("get", "events", "-n", stack.namespace, "-o", "json").stdout
            reasons = {e["reason"] for e in json.loads(events)["items"]}
            assert {"NodeDiscovered", "DiscoveryFailed"} <= reasons
    finally:
        proc.terminate()
        proc.wait(timeout=40)
        async with AsyncClient(stack.api.base, ADMIN_KEY) as client:
            await client.request(
                "PUT",
                "/config",
                {
                    "orchestrator": {"auto_discovery": False, "heartbeat_interval": 30},
                    "network": {"discovery_endpoints": []},
                },
            )
        print((logs / "found-node.log").read_text()[-3000:])


async def test_cancel_stops_the_executor_and_drain_parks_the_node(stack: Stack, logs: Path) -> None:
    node = NodeProcess(
        stack, "cd-node", logs, "--agents", "2", "--capabilities", "cd-cap,test_task"
    )
    try:
        async with AsyncClient(stack.api.base, ADMIN_KEY) as client:
            await client.request(
                "PUT", "/config", {"performance": {"cpu_threshold": 100, "memory_threshold": 100}}
            )

            async def active() -> bool:
                nodes = await client.list_nodes()
                return bool(nodes.get("cd-node", {}).get("status") == "active")

            await eventually(active, within=30)
            needs = {"capabilities": ["cd-cap"]}
            long_id = await client.submit(
                "test_task", input_data={"sleep_seconds": 60}, requirements=needs
            )

            async def running() -> bool:
                return bool((await client.get(long_id))["phase"] == "running")

            await eventually(running, within=30)
            cancelled = await client.cancel(long_id)
            assert (cancelled["status"], cancelled["phase"]) == ("failed", "cancelled")
            log = logs / "cd-node.log"

            def stopped() -> bool:
                return f"task {long_id} was cancelled by the orchestrator" in log.read_text()

            async def stopped_async() -> bool:
                return stopped()

            await eventually(stopped_async, within=5)
            # drain: the running task finishes, nothing new starts, then maintenance
            short_id = await client.submit(
                "test_task", input_data={"sleep_seconds": 3}, requirements=needs
            )
            await eventually(lambda: _phase(client, short_id, "running"), within=30)
            drained = await client.drain("cd-node")
            assert drained["tasks_running"] == 1
            later = await client.submit("test_task", requirements=needs)
            done = await client.wait(short_id, timeout=30)
            assert done["status"] == "completed"

            async def parked() -> bool:
                return bool((await client.get_node("cd-node"))["status"] == "maintenance")

            await eventually(parked, within=20)
            assert (await client.get(later))["status"] == "pending"
    finally:
        node.stop()
        print((logs / "cd-node.log").read_text()[-3000:])


async def _phase(client: AsyncClient, task_id: str, phase: str) -> bool:
    return bool((await client.get(task_id))["phase"] == phase)
