"""Issue 9: node incarnations through the API. Disruption mode and callback URL errors
are table tests of the controllers now (tests/unit/controllers/test_liveness.py and
test_callbacks.py)."""

from __future__ import annotations

from tests.conftest import Stack
from tests.integration.apiclient import Http
from tests.integration.helpers import eventually


async def test_a_node_that_restarts_gets_its_old_tasks_requeued_at_once_at_no_cost(
    stack: Stack,
) -> None:
    http = Http(stack.api.base, stack.headers)
    node = "rebooting-node"
    reg = {"host": "127.0.0.1", "capabilities": [node], "boot_id": "boot-1"}
    status, body = await http.post(f"/nodes/{node}/register", reg)
    assert status == 200, body
    status, body = await http.post(
        "/tasks",
        {"task_id": "survives-reboot", "task_type": "t", "requirements": {"capabilities": [node]}},
    )
    assert status == 200, body

    async def offered() -> bool:
        _, b = await http.get(f"/nodes/{node}/tasks?wait=1")
        return any(t["task_id"] == "survives-reboot" for t in b["tasks"])

    await eventually(offered)
    status, body = await http.post("/tasks/survives-reboot/start", {"node_id": node})
    assert status == 200, body
    # the node process restarts: same id, new incarnation
    status, body = await http.post(f"/nodes/{node}/register", {**reg, "boot_id": "boot-2"})
    assert status == 200, body
    _, body = await http.get("/tasks/survives-reboot")
    task = body["task"]
    assert task["retry_count"] == 0
    assert task["phase"] in ("retrying", "queued", "assigned")  # requeued (maybe re-bound)
    assert "restarted" in str(task.get("error_message"))
    # the same incarnation registering again changes nothing
    done_before = task
    status, body = await http.post(f"/nodes/{node}/register", {**reg, "boot_id": "boot-2"})
    assert status == 200, body
    _, body = await http.get("/tasks/survives-reboot")
    assert body["task"]["retry_count"] == done_before["retry_count"]
