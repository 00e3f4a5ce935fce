"""The scrape-time gauges from a filled watch cache (no cluster: the stores are set
by hand), and the exposition of a process's own registry."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from web4ai.core.bodies import as_task, format_time
from web4ai.core.model import TaskPhase
from web4ai.k8s.cache import ClusterState
from web4ai.observability.metrics import ClusterCollector, HubCollector, OperatorMetrics

NOW = 1_800_000_000.0


def task(name: str, phase: str, priority: int, reason: str | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase, "status": TaskPhase(phase).status.value}
    if reason:
        status["conditions"] = [{"type": "Scheduled", "status": "False", "reason": reason}]
    return {
        "metadata": {"name": name, "resourceVersion": "1"},
        "spec": {"taskId": name, "priority": priority},
        "status": status,
    }


def node(name: str, status: str, agents: int, beat: float) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "resourceVersion": "1"},
        "spec": {"nodeId": name, "agentsCount": agents},
        "status": {"status": status, "lastHeartbeat": format_time(beat)},
    }


def state() -> ClusterState:
    s = ClusterState(None, "ns")  # no I/O: the stores are set by hand
    for t in (
        task("a", "queued", 1),
        task("b", "queued", 1, "Unschedulable"),
        task("c", "retrying", 5, "Queued"),
        task("d", "running", 2),
    ):
        s.tasks.store[t["metadata"]["name"]] = t
    for n in (node("n1", "active", 4, NOW - 1), node("n2", "offline", 2, NOW - 999)):
        s.nodes.store[n["metadata"]["name"]] = n
    for informer in s.informers:
        informer.synced.set()
    return s


def values(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }


def test_cluster_gauges_from_the_cache() -> None:
    registry = CollectorRegistry()
    registry.register(ClusterCollector(state(), lambda: True, lambda: NOW))
    v = values(registry)
    assert v[("web4ai_pending_tasks", (("priority", "1"), ("reason", "queued")))] == 1
    assert v[("web4ai_pending_tasks", (("priority", "1"), ("reason", "unschedulable")))] == 1
    assert v[("web4ai_pending_tasks", (("priority", "5"), ("reason", "queued")))] == 1
    assert v[("web4ai_pending_tasks", (("priority", "2"), ("reason", "queued")))] == 0
    assert sum(x for (n, _), x in v.items() if n == "web4ai_pending_tasks") == 3
    assert v[("web4ai_nodes", (("status", "active"),))] == 1
    assert v[("web4ai_nodes", (("status", "offline"),))] == 1
    assert v[("web4ai_nodes", (("status", "error"),))] == 0
    assert v[("web4ai_node_agents", ())] == 4  # n2's heartbeat is long gone


def test_a_follower_exports_no_cluster_gauges() -> None:
    registry = CollectorRegistry()
    registry.register(ClusterCollector(state(), lambda: False, lambda: NOW))
    assert not values(registry)


def test_series_exist_before_anything_happens() -> None:
    metrics = OperatorMetrics(CollectorRegistry(), "1.2.3")
    metrics.registry.register(HubCollector(lambda: ["same_origin", "same_origin"]))
    v = values(metrics.registry)
    assert v[("web4ai_build_info", (("version", "1.2.3"),))] == 1
    assert v[("web4ai_tasks_total", (("outcome", "completed"),))] == 0
    assert v[("web4ai_schedule_attempts_total", (("result", "scheduled"),))] == 0
    assert v[("web4ai_websocket_clients", (("transport", "same_origin"),))] == 2
    assert v[("web4ai_websocket_clients", (("transport", "dedicated_port"),))] == 0


def test_outcomes_and_retries_are_counted_by_the_leader_only() -> None:
    metrics = OperatorMetrics(CollectorRegistry(), "x")
    running = task("t", "running", 3)
    running["spec"]["submittedAt"] = format_time(NOW - 5)
    done = {
        **running,
        "status": {"phase": "completed", "status": "completed", "completedAt": format_time(NOW)},
    }
    retrying = {
        **running,
        "status": {"phase": "retrying", "status": "pending", "errorMessage": "timed out after 1s"},
    }
    done_t, running_t, retrying_t = as_task(done), as_task(running), as_task(retrying)
    metrics.task_changed(done_t, running_t, leading=False)
    metrics.task_changed(done_t, running_t, leading=True)
    metrics.task_changed(done_t, done_t, leading=True)  # no transition
    metrics.task_changed(retrying_t, running_t, leading=True)
    v = values(metrics.registry)
    assert v[("web4ai_tasks_total", (("outcome", "completed"),))] == 1
    assert v[("web4ai_task_duration_seconds_count", (("outcome", "completed"),))] == 1
    assert v[("web4ai_task_duration_seconds_sum", (("outcome", "completed"),))] == 5
    assert v[("web4ai_task_retries_total", (("reason", "timeout"),))] == 1
