"""The status patches of web4ai.core.patches (with web4ai.core.bodies and task_public):
pure functions over bodies."""

from __future__ import annotations

from typing import Any, TypeVar, cast

from web4ai.core import bodies, patches
from web4ai.core.crs import NodeBody, TaskBody
from web4ai.core.model import NodeStatus, TaskPhase
from web4ai.core.schemas import public

NOW = 1_700_000_000.0


B = TypeVar("B", TaskBody, NodeBody)


def task(status: dict[str, Any] | None = None, **spec: Any) -> TaskBody:
    return bodies.as_task(
        {
            "metadata": {"name": "t1", "resourceVersion": "7"},
            "spec": {"taskId": "t1", "taskType": "echo", "maxRetries": 1, **spec},
            "status": status or {},
        }
    )


def apply(body: B, patch: dict[str, Any]) -> B:
    """A JSON merge patch of the status, as the API server applies it."""
    status: dict[str, Any] = dict(body.get("status") or {})
    for key, value in patch["status"].items():
        if value is None:
            status.pop(key, None)
        else:
            status[key] = value
    return cast(B, {**body, "status": status})


def test_life_of_a_task_keeps_status_phase_and_current_holder() -> None:
    t = task()
    assert (bodies.task_status(t).value, bodies.task_phase(t).value) == ("pending", "queued")
    t = apply(t, patches.bind_patch(t, "n1", NOW))
    pub = public.task_public(t)
    assert (pub["status"], pub["phase"], pub["assigned_nodes"]) == ("active", "assigned", ["n1"])
    t = apply(t, patches.start_patch(t, "n1-agent-0", NOW + 1))
    assert (public.task_public(t)["status"], public.task_public(t)["phase"]) == (
        "active",
        "running",
    )
    t = apply(t, patches.attempt_failed_patch(t, "boom\n  line 2", NOW + 2))
    pub = public.task_public(t)
    assert (pub["status"], pub["phase"], pub["assigned_nodes"]) == ("pending", "retrying", [])
    t = apply(t, patches.bind_patch(t, "n2", NOW + 3))
    pub = public.task_public(t)
    assert pub["assigned_nodes"] == ["n2"]
    assert [(a["node_id"], a["outcome"]) for a in pub["attempts"]] == [
        ("n1", "failed"),
        ("n2", None),
    ]
    assert pub["attempts"][0]["agent_id"] == "n1-agent-0"
    assert pub["attempts"][0]["error_message"] == "boom\n  line 2"
    t = apply(t, patches.completed_patch(t, NOW + 4))
    pub = public.task_public(t)
    assert (pub["status"], pub["phase"], pub["assigned_nodes"]) == (
        "completed",
        "completed",
        ["n2"],
    )
    assert bodies.task_from_body(t).previous_nodes == ("n1", "n2")


def test_cancel_then_retry() -> None:
    t = task()
    t = apply(t, patches.bind_patch(t, "n1", NOW))
    t = apply(t, patches.cancel_patch(t, "admin", NOW + 1))
    pub = public.task_public(t)
    assert (pub["status"], pub["phase"]) == ("failed", "cancelled")
    assert pub["error_message"] == "cancelled by admin"
    assert pub["attempts"][-1]["outcome"] == "cancelled"
    t = apply(t, {"status": {"retryCount": 1, "callbackDelivered": True}})
    t = apply(t, patches.retry_patch(t, NOW + 2))
    pub = public.task_public(t)
    assert (pub["status"], pub["phase"], pub["retry_count"]) == ("pending", "queued", 0)
    assert "error_message" not in pub and pub["assigned_nodes"] == []
    assert "callbackDelivered" not in t["status"]
    assert len(pub["attempts"]) == 1  # the history stays


def test_requeue_charges_no_retry() -> None:
    t = task()
    t = apply(t, patches.bind_patch(t, "n1", NOW))
    t = apply(t, patches.requeue_patch(t, "node n1 drained", NOW + 1))
    assert bodies.task_phase(t) is TaskPhase.RETRYING
    assert int(t["status"].get("retryCount", 0)) == 0
    assert t["status"]["attempts"][-1]["outcome"] == "requeued"


def test_legacy_objects_read_in_place_and_upgrade() -> None:
    legacy = task(
        {"status": "running", "nodeId": "n2", "assignedNodes": ["n1", "n2"], "retryCount": 1}
    )
    assert bodies.task_phase(legacy) is TaskPhase.RUNNING
    assert public.task_public(legacy)["status"] == "active"
    assert public.task_public(legacy)["assigned_nodes"] == ["n2"]
    assert bodies.needs_upgrade(legacy)
    up = apply(legacy, patches.upgrade_patch(legacy))
    assert (up["status"]["status"], up["status"]["phase"]) == ("active", "running")
    assert up["status"]["assignedNodes"] == ["n2"]
    assert not bodies.needs_upgrade(up)
    waiting = task({"status": "pending", "retryCount": 2})
    assert bodies.task_phase(waiting) is TaskPhase.RETRYING
    assert not bodies.needs_upgrade(task())  # no status at all yet: nothing to upgrade
    # a writer that knows only the status (kubectl patch, an old replica) wins
    mixed = task({"status": "completed", "phase": "assigned", "nodeId": "n1"})
    assert bodies.task_phase(mixed) is TaskPhase.COMPLETED and bodies.needs_upgrade(mixed)
    cancelled = task({"status": "failed", "phase": "cancelled"})
    assert bodies.task_phase(cancelled) is TaskPhase.CANCELLED
    assert not bodies.needs_upgrade(cancelled)
    started = task({"status": "active", "startedAt": "2026-01-01T00:00:00Z"})
    assert bodies.task_phase(started) is TaskPhase.RUNNING


def node(**status: Any) -> NodeBody:
    return bodies.as_node(
        {"metadata": {"name": "n1", "resourceVersion": "3"}, "spec": {}, "status": status}
    )


def test_admin_intent_and_node_report() -> None:
    n = node(status="active", reportedStatus="active")
    n = apply(n, {"status": patches.node_status_fields(n, NOW, admin=NodeStatus.MAINTENANCE)})
    assert n["status"]["status"] == "maintenance"
    # the node reports active (the seed's heartbeat): the admin's intent holds
    n = apply(n, {"status": patches.node_status_fields(n, NOW, reported=NodeStatus.ACTIVE)})
    assert (n["status"]["status"], n["status"]["reportedStatus"]) == ("maintenance", "active")
    # lease expiry underneath: still maintenance, and no longer Ready
    n = apply(n, {"status": patches.node_status_fields(n, NOW, alive=False)})
    assert n["status"]["status"] == "maintenance" and not bodies.node_alive(n)
    # the admin clears the intent: offline until the node is heard again
    n = apply(n, {"status": patches.node_status_fields(n, NOW, admin=None)})
    assert n["status"]["status"] == "offline"
    n = apply(n, {"status": patches.node_status_fields(n, NOW, alive=True)})
    assert n["status"]["status"] == "active" and bodies.node_alive(n)


def test_draining_node_takes_no_new_tasks() -> None:
    n = bodies.as_node(
        {
            "metadata": {"name": "n1"},
            "spec": {"nodeId": "n1", "agentsCount": 2},
            "status": {"status": "active", "draining": {"requestedAt": "2026-01-01T00:00:00Z"}},
        }
    )
    assert bodies.node_from_body(n, 0).status is NodeStatus.MAINTENANCE


def test_attempts_keep_the_newest_within_the_bound() -> None:
    from web4ai.core.limits import ATTEMPTS_MAX

    t = task()
    for i in range(ATTEMPTS_MAX + 5):  # requeues at no cost: not bounded by max_retries
        t = apply(t, patches.bind_patch(t, f"n{i}", NOW + i))
        t = apply(t, patches.requeue_patch(t, "node drained", NOW + i))
    attempts = t["status"]["attempts"]
    assert len(attempts) == ATTEMPTS_MAX
    assert attempts[-1]["nodeId"] == f"n{ATTEMPTS_MAX + 4}"
    assert attempts[0]["nodeId"] == "n5"
