"""Which heartbeats write the node's status (the rest renew the Lease alone)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from web4ai.core.bodies import as_node, format_time
from web4ai.core.crs import NodeBody
from web4ai.core.heartbeats import SOFT_COALESCE, heartbeat_status, refresh_of, status_refresh
from web4ai.core.schemas.requests import Heartbeat

REFRESH = 300.0
T0 = 1_800_000_000.0


def node(**status: Any) -> NodeBody:
    return as_node(
        {
            "metadata": {"name": "n", "labels": {}},
            "spec": {"nodeId": "n"},
            "status": {
                "status": "active",
                "reportedStatus": "active",
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "True",
                        "reason": "HeartbeatReceived",
                        "message": "the node is sending heartbeats",
                        "lastTransitionTime": format_time(T0),
                    }
                ],
                "cpuUsage": 20.0,
                "memoryUsage": 30.0,
                "loadScore": 0.2,
                "networkLatency": 2.0,
                "agentsStatus": {"tasks_completed": 1},
                "lastHeartbeat": format_time(T0),
                **status,
            },
        }
    )


def beat_of(body: dict[str, Any]) -> Heartbeat:
    return Heartbeat.model_validate(body)


BEAT = {"status": "active", "cpu_usage": 21.0, "memory_usage": 30.5, "load_score": 0.21}


def test_a_steady_heartbeat_writes_no_status_until_the_refresh() -> None:
    due = math.ceil(refresh_of("n", REFRESH))
    assert heartbeat_status(beat_of(BEAT), node(), T0 + 60, REFRESH) is None
    assert heartbeat_status(beat_of(BEAT), node(), T0 + due - 1, REFRESH) is None
    written = heartbeat_status(beat_of(BEAT), node(), T0 + due, REFRESH)
    assert written is not None and written["lastHeartbeat"] == format_time(T0 + due)


def test_each_node_refreshes_at_a_period_of_its_own_around_the_refresh() -> None:
    """Nodes registered together do not refresh together: 10,000 of them spread over
    half the period, about evenly, each always at the same period."""
    periods = [refresh_of(f"node-{i}", REFRESH) for i in range(10_000)]
    assert all(0.75 * REFRESH <= p < 1.25 * REFRESH for p in periods)
    assert sum(periods) / len(periods) == pytest.approx(REFRESH, rel=0.01)
    tenths = [0] * 10
    for p in periods:
        tenths[int((p / REFRESH - 0.75) * 20)] += 1
    assert max(tenths) < 1.2 * min(tenths)  # no slice of the spread is crowded
    assert refresh_of("node-7", REFRESH) == periods[7]  # stable across calls


def test_a_real_change_is_written_at_once() -> None:
    written = heartbeat_status(beat_of({**BEAT, "cpu_usage": 90.0}), node(), T0 + 1, REFRESH)
    assert written is not None and written["cpuUsage"] == 90.0
    written = heartbeat_status(beat_of({**BEAT, "status": "degraded"}), node(), T0 + 1, REFRESH)
    assert written is not None and written["reportedStatus"] == "degraded"


def test_a_first_metric_is_written_even_below_the_tolerance() -> None:
    written = heartbeat_status(beat_of({**BEAT, "gpu_usage": 1.0}), node(), T0 + 1, REFRESH)
    assert written is not None and written["gpuUsage"] == 1.0


def test_counters_and_latency_jitter_are_coalesced() -> None:
    beat = {**BEAT, "network_latency": 9.0, "agents_status": {"tasks_completed": 7}}
    assert heartbeat_status(beat_of(beat), node(), T0 + SOFT_COALESCE - 1, REFRESH) is None
    written = heartbeat_status(beat_of(beat), node(), T0 + SOFT_COALESCE, REFRESH)
    assert written is not None and written["agentsStatus"] == {"tasks_completed": 7}
    # latency within its tolerance is no change at all
    near = {**BEAT, "network_latency": 20.0}
    assert heartbeat_status(beat_of(near), node(), T0 + SOFT_COALESCE + 1, REFRESH) is None


def test_the_refresh_grows_with_the_interval_so_it_stays_a_tenth_of_the_heartbeats() -> None:
    assert status_refresh(REFRESH, 30.0) == REFRESH  # up to 3,000 nodes: the 5 minutes
    assert status_refresh(REFRESH, 100.0) == 1000.0  # 10,000 nodes told 100 s
    nodes, interval = 10_000, 100.0
    per_second = nodes / status_refresh(REFRESH, interval)
    assert per_second <= 0.1 * nodes / interval
