"""Callbacks in-process: delivery, retry with backoff, refusals, and the settling write,
with a scripted HTTP session (the real ``post_json`` and egress policy, no network) and
a sleep that only records. Formerly (in part) tests/integration/test_operator_lifecycle.py
and tests/integration/test_disruption.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, cast

import aiohttp
import pytest

from tests.unit.controllers.fakes import Call, FakeCluster
from web4ai.core import bodies, patches
from web4ai.core.backoff import CALLBACK_BACKOFF
from web4ai.core.crs import Patch, TaskBody
from web4ai.core.model import TaskPhase
from web4ai.core.resources import TASKS
from web4ai.operator.callbacks import CallbackSender

Body = dict[str, Any]
Answer = int | BaseException  # an HTTP status, or what the request raises


@dataclass
class FakeResponse:
    status: int

    @property
    def content(self) -> FakeResponse:
        return self

    async def read(self, n: int = -1) -> bytes:
        return b""


@dataclass
class ScriptedSession:
    """Stands in for the egress session: answers in turn (then 200), records each POST."""

    answers: list[Answer] = field(default_factory=list)
    posts: list[tuple[str, Any]] = field(default_factory=list)
    closed: bool = False

    @asynccontextmanager
    async def post(
        self, url: str, *, json: Any = None, allow_redirects: bool = True
    ) -> AsyncIterator[FakeResponse]:
        assert allow_redirects is False
        self.posts.append((url, json))
        answer = self.answers.pop(0) if self.answers else 200
        if isinstance(answer, BaseException):
            raise answer
        yield FakeResponse(answer)

    async def close(self) -> None:
        self.closed = True


@dataclass
class Sleeps:
    """The sender's sleep: records the delay and moves the fake clock."""

    cluster: FakeCluster
    delays: list[float] = field(default_factory=list)

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        self.cluster.clock.advance(delay)


def sender_for(cluster: FakeCluster, session: ScriptedSession, sleeps: Sleeps) -> CallbackSender:
    return CallbackSender(
        cluster.state,
        cluster.writer,
        cluster.clock,
        sleep=sleeps,
        _session=cast(aiohttp.ClientSession, session),
    )


async def settled(sender: CallbackSender) -> None:
    while sender._tasks:
        await asyncio.gather(*list(sender._tasks))


def finished_status(phase: TaskPhase = TaskPhase.COMPLETED, **extra: Any) -> Body:
    return {
        **patches.phase_fields(phase),
        "nodeId": "worker",
        "completedAt": bodies.format_time(1_700_000_000.0),
        **extra,
    }


def tries(*answers: Answer) -> list[Answer]:
    return list(answers)


HOOK = "http://hooks.example.com/hook"
LOOPBACK = ["127.0.0.1/32"]
ROWS: dict[str, tuple[str, list[str] | None, list[Answer], int, list[float], str | None]] = {
    # url, allowed networks, answers, POSTs, sleeps, error (None: delivered)
    "delivered at once": (HOOK, None, [200], 1, [], None),
    "a 2xx other than 200": (HOOK, None, [204], 1, [], None),
    "retried after a 503": (HOOK, None, [503, 200], 2, [1.0], None),
    "retried after a connection error": (
        HOOK,
        None,
        [aiohttp.ServerDisconnectedError(), 502, 200],
        3,
        [1.0, 2.0],
        None,
    ),
    "every try fails: settled as failed with the last error": (
        HOOK,
        None,
        tries(*[503] * 5, 500),
        6,
        list(CALLBACK_BACKOFF),
        "HTTP 500",
    ),
    "timeouts: failed": (
        HOOK,
        None,
        tries(*[TimeoutError()] * 6),
        6,
        list(CALLBACK_BACKOFF),
        "TimeoutError",
    ),
    "a metadata address is refused without a request": (
        "http://169.254.169.254/latest/",
        None,
        [],
        0,
        [],
        "metadata address",
    ),
    "loopback is refused by default": ("http://127.0.0.1:8080/hook", None, [], 0, [], "refused"),
    "loopback, once allowed, is posted to": (
        "http://127.0.0.1:8080/hook",
        LOOPBACK,
        [200],
        1,
        [],
        None,
    ),
    "a bad port is an invalid URL, not a crash": (
        "http://127.0.0.1:99999/",
        LOOPBACK,
        [],
        0,
        [],
        "invalid callback URL http://127.0.0.1:99999/",
    ),
    "not http: refused up front": (
        "ftp://hooks.example.com/x",
        None,
        [],
        0,
        [],
        "must be an http or https URL",
    ),
    "an unexpected error is a refusal, not retried": (
        HOOK,
        None,
        [RuntimeError("boom")],
        1,
        [],
        "refused: RuntimeError: boom",
    ),
}


@pytest.mark.parametrize(
    ("url", "allowed", "answers", "posts", "sleeps", "error"), ROWS.values(), ids=ROWS.keys()
)
async def test_delivery(
    url: str,
    allowed: list[str] | None,
    answers: list[Answer],
    posts: int,
    sleeps: list[float],
    error: str | None,
) -> None:
    cluster = FakeCluster()
    cluster.configure(**({"security": {"callbackAllowedNetworks": allowed}} if allowed else {}))
    body = cluster.add_task(
        "with-hook", callbackUrl=url, status=finished_status(result={"answer": 42})
    )
    cluster.sync()
    session, slept = ScriptedSession(list(answers)), Sleeps(cluster)
    sender = sender_for(cluster, session, slept)
    sender.scan()
    await settled(sender)
    assert len(session.posts) == posts
    assert slept.delays == sleeps
    for posted_url, payload in session.posts:
        assert posted_url == url
        assert (payload["task_id"], payload["status"]) == ("with-hook", "completed")
        assert payload["result"] == {"answer": 42}
    # the payload read whole from the API server (the operator's store keeps the task
    # lean: no result), then one settling write; not guarded (only this field and a
    # condition change)
    gets = [c.verb for c in cluster.writer.calls if c.verb == "get"]
    assert len(gets) <= 1 and (not posts or gets == ["get"])
    [call] = cluster.writer.done("patch_status")
    assert [c.verb for c in cluster.writer.calls] == [*gets, "patch_status"]
    assert "result" not in bodies.status_of(cluster.state.tasks_by_name[bodies.name_of(body)])
    assert (call.verb, call.name, call.outcome) == ("patch_status", bodies.name_of(body), "ok")
    assert call.body is not None and "metadata" not in call.body
    status = call.body["status"]
    assert status["callbackDelivered"] is (error is None)
    [cond] = [c for c in status["conditions"] if c["type"] == "CallbackDelivered"]
    if error is None:
        assert (cond["status"], cond["reason"]) == ("True", "Delivered")
    else:
        assert (cond["status"], cond["reason"]) == ("False", "DeliveryFailed")
        assert error in cond["message"]
        assert cond["lastTransitionTime"] == bodies.format_time(cluster.clock())
    # the task itself is unchanged
    task = cluster.task_status("with-hook")
    assert (task["phase"], task["result"]) == ("completed", {"answer": 42})
    # settled: a new scan (a new leader) sends nothing again
    cluster.writer.clear()
    cluster.sync()
    sender.scan()
    await settled(sender)
    assert len(session.posts) == posts and cluster.writer.calls == []
    await sender.close()
    assert session.closed


def writes(cluster: FakeCluster) -> list[Call]:
    """The writer's calls but its reads (a callback's payload is read whole first)."""
    return [c for c in cluster.writer.calls if c.verb != "get"]


SCAN: dict[str, tuple[Body | None, str | None, bool]] = {
    # the task's status (None: as submitted), its callback URL, whether it is sent
    "completed": (finished_status(), HOOK, True),
    "failed": (finished_status(TaskPhase.FAILED, errorMessage="x"), HOOK, True),
    "cancelled": (finished_status(TaskPhase.CANCELLED), HOOK, True),
    "pending": (None, HOOK, False),
    "running": (patches.phase_fields(TaskPhase.RUNNING), HOOK, False),
    "no callback URL": (finished_status(), None, False),
    "delivered already": (finished_status(callbackDelivered=True), HOOK, False),
    "refused already": (finished_status(callbackDelivered=False), HOOK, False),
}


@pytest.mark.parametrize(("status", "url", "sent"), SCAN.values(), ids=SCAN.keys())
async def test_which_tasks_are_called_back(
    status: Body | None, url: str | None, sent: bool
) -> None:
    cluster = FakeCluster()
    cluster.configure()
    spec = {"callbackUrl": url} if url else {}
    cluster.add_task("t", status=status, **spec)
    cluster.sync()
    session = ScriptedSession()
    sender = sender_for(cluster, session, Sleeps(cluster))
    sender.scan()
    await settled(sender)
    assert len(session.posts) == int(sent)
    assert len(writes(cluster)) == int(sent)


async def test_a_task_queued_twice_is_sent_once() -> None:
    cluster = FakeCluster()
    cluster.configure()
    body = cluster.add_task("t", callbackUrl=HOOK, status=finished_status())
    cluster.sync()
    session = ScriptedSession([503, 200])
    sender = sender_for(cluster, session, Sleeps(cluster))
    for _ in range(3):
        sender.enqueue(bodies.name_of(body))
        sender.scan()
    await settled(sender)
    assert len(session.posts) == 2
    assert len(writes(cluster)) == 1


async def test_a_task_deleted_while_its_callback_is_retried_is_not_written() -> None:
    cluster = FakeCluster()
    cluster.configure()
    body = cluster.add_task("t", callbackUrl=HOOK, status=finished_status())
    cluster.sync()
    name = bodies.name_of(body)

    class Deleting(Sleeps):
        async def __call__(self, delay: float) -> None:
            await super().__call__(delay)
            cluster.server.delete(TASKS, name)
            cluster.sync()

    session = ScriptedSession([503, 200])
    sender = sender_for(cluster, session, Deleting(cluster))
    sender.scan()
    await settled(sender)
    assert len(session.posts) == 2
    assert writes(cluster) == []


async def test_a_task_retried_while_its_callback_is_retried_gets_the_new_outcome_posted() -> None:
    cluster = FakeCluster()
    cluster.configure()
    body = cluster.add_task(
        "again", callbackUrl=HOOK, status=finished_status(TaskPhase.FAILED, errorMessage="x")
    )
    cluster.sync()
    name = bodies.name_of(body)
    sender: CallbackSender

    class RetriedMeanwhile(Sleeps):
        """While the first delivery backs off, a user retries the task and it completes."""

        async def __call__(self, delay: float) -> None:
            await super().__call__(delay)
            if len(self.delays) > 1:
                return
            steps: list[Callable[[TaskBody, float], Patch]] = [
                patches.retry_patch,
                lambda b, now: patches.bind_patch(b, "worker", now),
                patches.completed_patch,
            ]
            for step in steps:
                current = cluster.server.get(TASKS, name)
                patch = step(bodies.as_task(current), cluster.clock())
                cluster.server.patch(TASKS, name, patch, status=True)
                cluster.sync()
            sender.enqueue(name)  # as the operator does for every task that needs one

    session = ScriptedSession([503, 200, 200])
    sender = sender_for(cluster, session, RetriedMeanwhile(cluster))
    sender.scan()
    await settled(sender)
    assert [p["status"] for _, p in session.posts][-1] == "completed"
