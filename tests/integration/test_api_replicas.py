"""Issue 9: with two API replicas, a node call answered by the replica whose watch cache
lags behind the other's write is not refused: before a 404 or 409 the replica re-reads
the object from the API server."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ADMIN_KEY, Stack
from tests.integration.apiclient import Http
from tests.integration.helpers import ApiProcess


class Lagging(Http):
    """The second replica. ``frozen()`` stops the process (SIGSTOP) while the first
    replica writes, and lets it go (SIGCONT) with the node's call already waiting: the
    call and the watch events that bring the write arrive together."""

    def __init__(self, replica: ApiProcess, headers: dict[str, str]) -> None:
        super().__init__(replica.base, headers)
        self.pid = replica.proc.pid

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        os.kill(self.pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(self.pid, signal.SIGCONT)

    async def call_while_frozen(self, method: str, path: str, body: object = None) -> Any:
        call = asyncio.create_task(self.call(method, path, body))
        await asyncio.sleep(0.2)  # the request waits in the kernel for the process
        os.kill(self.pid, signal.SIGCONT)
        status, answer, _ = await call
        return status, answer


@pytest.fixture
async def second(stack: Stack, tmp_path: Path) -> AsyncIterator[Lagging]:
    replica = ApiProcess(stack.identities["api"], stack.namespace, tmp_path / "api2.log", ADMIN_KEY)
    try:
        await replica.wait_ready()
        yield Lagging(replica, stack.headers)
    finally:
        os.kill(replica.proc.pid, signal.SIGCONT)
        replica.stop()


async def test_node_calls_on_a_lagging_replica_are_not_refused(
    stack: Stack, second: Lagging
) -> None:
    first = Http(stack.api.base, stack.headers)
    refused: list[tuple[str, int, object]] = []
    for i in range(15):
        node = f"hop-node-{i}"
        # register on one replica, poll on the other at once
        os.kill(second.pid, signal.SIGSTOP)
        status, body = await first.post(
            f"/nodes/{node}/register", {"host": "127.0.0.1", "capabilities": [node]}
        )
        assert status == 200, body
        status, body = await second.call_while_frozen("GET", f"/nodes/{node}/tasks")
        if status != 200:
            refused.append(("poll", status, body))
        status, body = await second.post(f"/nodes/{node}/heartbeat", {"status": "active"})
        if status != 200:
            refused.append(("heartbeat", status, body))
    # tasks: wait for each to be assigned as the first replica sees it, then start and
    # report on the second at once
    for i in range(15):
        node, task_id = f"hop-node-{i}", f"hop-task-{i}"
        status, body = await first.post(
            "/tasks",
            {"task_id": task_id, "task_type": "t", "requirements": {"capabilities": [node]}},
        )
        assert status == 200, body
        for _ in range(600):
            status, body = await first.get(f"/nodes/{node}/tasks")
            if any(t["task_id"] == task_id for t in body["tasks"]):
                break
            await asyncio.sleep(0.05)
        os.kill(second.pid, signal.SIGSTOP)
        status, body = await first.post(f"/tasks/{task_id}/start", {"node_id": node})
        assert status == 200, body
        status, body = await second.call_while_frozen(
            "POST", f"/tasks/{task_id}/result", {"node_id": node, "status": "completed"}
        )
        if status != 200:
            refused.append(("result", status, body))
            continue
        status, body = await second.post(
            f"/tasks/{task_id}/result", {"node_id": node, "status": "completed"}
        )
        # a repeated report of a finished task is refused as such (re-read: not stale)
        assert status == 409 and body["details"]["code"] == "TASK_FINISHED", body
    assert refused == []
