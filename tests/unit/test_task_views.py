"""The API's memo of task views: one view per version of a task, bounded in size."""

from __future__ import annotations

from typing import Any

from web4ai.api.taskviews import TaskViews
from web4ai.core.crs import TaskBody
from web4ai.core.schemas import public


def task(name: str, version: str, **status: Any) -> TaskBody:
    body: Any = {
        "metadata": {"name": name, "resourceVersion": version},
        "spec": {"taskId": name, "taskType": "echo", "submittedAt": "2026-01-01T00:00:00Z"},
        "status": status,
    }
    return body  # type: ignore[no-any-return]


def test_a_version_is_shown_from_one_view() -> None:
    memo = TaskViews()
    bound = task("t", "5", status="active", phase="assigned", nodeId="n1")
    first = memo.of(bound)
    assert first == public.task_public(bound)
    assert memo.of(bound) is first  # the poll after the task_assigned message
    assert memo.made == 1
    done = task("t", "6", status="completed", phase="completed", nodeId="n1")
    assert memo.of(done)["status"] == "completed"  # a new version: a new view
    assert memo.made == 2


def test_an_equal_body_that_is_another_object_is_viewed_again() -> None:
    memo = TaskViews()
    memo.of(task("t", "5"))
    memo.of(task("t", "5"))  # e.g. re-read from the API server
    assert memo.made == 2


def test_only_the_newest_tasks_are_kept() -> None:
    memo = TaskViews(size=2)
    bodies = [task(f"t{i}", "1") for i in range(3)]
    for body in bodies:
        memo.of(body)
    memo.of(bodies[2])
    memo.of(bodies[1])
    assert memo.made == 3
    memo.of(bodies[0])  # dropped as the oldest: made again
    assert memo.made == 4
