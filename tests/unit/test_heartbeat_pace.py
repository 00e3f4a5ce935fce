"""The heartbeat interval a node is told as the cluster grows, and how the reference
node follows it (pure, no I/O)."""

from __future__ import annotations

from typing import Any

import pytest

from web4ai.core.heartbeats import adaptive_interval, min_interval
from web4ai.core.ratelimit import PACED_BURST, PacedLimiter
from web4ai.node.agent import NodeAgent
from web4ai.node.config import NodeConfig

INTERVALS = {
    # base, live nodes, max heartbeats/s -> told, floor
    "a small cluster: the base": (30.0, 50, 100.0, 30.0, 1.0),
    "no nodes: the base": (30.0, 0, 100.0, 30.0, 0.0),
    "at the cap exactly": (30.0, 3000, 100.0, 30.0, 30.0),
    "past the cap: nodes / rate": (30.0, 10_000, 100.0, 100.0, 100.0),
    "rounded up to whole seconds": (10.0, 2001, 100.0, 21.0, 21.0),
    "a high cap keeps the base": (30.0, 10_000, 1000.0, 30.0, 10.0),
}


@pytest.mark.parametrize(
    ("base", "live", "rate", "told", "floor"), INTERVALS.values(), ids=INTERVALS.keys()
)
def test_the_interval_keeps_the_total_rate_under_the_cap(
    base: float, live: int, rate: float, told: float, floor: float
) -> None:
    assert adaptive_interval(base, live, rate) == told
    assert min_interval(live, rate) == floor
    assert live / told <= max(rate, live / base)  # never more than the cap (or the base's)


PACES: dict[str, tuple[float, Any, float]] = {
    # the node's own interval, the answer -> the pace it beats at
    "follows a shorter interval": (30.0, {"heartbeat_interval": 10}, 10.0),
    "keeps its own faster pace": (10.0, {"heartbeat_interval": 30}, 10.0),
    "slows down to the floor of a large cluster": (
        10.0,
        {"heartbeat_interval": 100, "min_heartbeat_interval": 100},
        100.0,
    ),
    "a floor under its own pace changes nothing": (
        10.0,
        {"heartbeat_interval": 30, "min_heartbeat_interval": 5},
        10.0,
    ),
    "an answer without an interval": (10.0, {"success": True}, 10.0),
    "nonsense is ignored": (
        10.0,
        {"heartbeat_interval": True, "min_heartbeat_interval": "x"},
        10.0,
    ),
}


@pytest.mark.parametrize(("own", "answer", "pace"), PACES.values(), ids=PACES.keys())
async def test_the_reference_node_obeys(own: float, answer: Any, pace: float) -> None:
    agent = NodeAgent(NodeConfig(heartbeat_interval=own), executors={})
    try:
        agent.obey(answer)
        assert agent.heartbeat_every == pace
    finally:
        await agent.client.close()


@pytest.mark.parametrize("floor", [0.0, 1.0, 30.0, 100.0])
def test_a_node_at_its_pace_is_never_refused_and_a_flood_is(floor: float) -> None:
    limiter, now = PacedLimiter(), 0.0
    pace = max(floor, 1.0)
    for _ in range(1000):  # a day of beats at the pace it is told, even twice too fast
        assert limiter.check("n1", floor, now) == 0.0
        now += pace / 2
    refused = [limiter.check("n2", floor, now) for _ in range(PACED_BURST + 3)]
    assert refused[:PACED_BURST] == [0.0] * PACED_BURST
    assert all(0 < r <= pace for r in refused[PACED_BURST:])  # wait about one beat


async def test_a_register_refused_while_the_old_node_is_deleted_is_retried(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # DELETE /nodes/x then the node's re-register: 409 NODE_TERMINATING "retry shortly"
    # until the finalizer is gone; the node used to end its poll loop on it
    import asyncio

    from web4ai.client.errors import Web4AIError

    async def no_sleep(_: float) -> None:
        return None

    monkeypatch.setattr(asyncio, "sleep", no_sleep)
    node = NodeAgent(NodeConfig(orchestrator_url="http://127.0.0.1:1", node_id="n"))
    answers: list[Any] = [
        Web4AIError(409, "Node is being unregistered; retry shortly", "NODE_TERMINATING", {}),
        Web4AIError(409, "Node is being unregistered; retry shortly", "NODE_TERMINATING", {}),
        {"success": True},
    ]

    async def call() -> Any:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert await node.retrying("register", call) == {"success": True}
    other: list[Any] = [Web4AIError(409, "Task is not yours", "TASK_CONFLICT", {})]

    async def conflict() -> Any:
        raise other.pop(0)

    with pytest.raises(Web4AIError, match="TASK_CONFLICT"):
        await node.retrying("result", conflict)
