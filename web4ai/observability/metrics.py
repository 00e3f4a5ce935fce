"""Prometheus metrics of the API and the operator.

Each process makes one ``CollectorRegistry`` in its wiring and passes it down:
no module-level registry, so two processes (or two tests) never share series.
Counters and histograms are updated where things happen; gauges about the
cluster (pending tasks, nodes, agents) are computed from the watch cache at
scrape time by a custom collector, which costs nothing between scrapes.

Cardinality is bounded: labels come from the closed sets of
``web4ai.core.observing``; no task id, node id, URL or error text is a label.
"""

from __future__ import annotations

import logging
import time
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.aiohttp import make_aiohttp_handler
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from web4ai.core import bodies, observing
from web4ai.core.crs import TaskBody
from web4ai.core.defaults import NODE_SPEC_DEFAULTS as NODE
from web4ai.core.defaults import TASK_SPEC_DEFAULTS as TASK
from web4ai.core.lifecycle import lease_expired
from web4ai.core.model import NodeStatus
from web4ai.k8s.cache import ClusterState
from web4ai.k8s.client import ApiClient, count_requests

log = logging.getLogger(__name__)

DURATION_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
FAST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class ProcessMetrics:
    """What every process exports: build info and its calls to the Kubernetes API."""

    def __init__(self, registry: CollectorRegistry, version: str) -> None:
        self.registry = registry
        self.build_info = Gauge(
            "web4ai_build_info",
            "Always 1; the version label says which build runs.",
            ["version"],
            registry=registry,
        )
        self.build_info.labels(version=version).set(1)
        self.apiserver_requests = Counter(
            "web4ai_apiserver_requests",
            "Requests to the Kubernetes API server by resource, verb and HTTP code.",
            ["resource", "verb", "code"],
            registry=registry,
        )

    def apiserver_request(self, method: str, url: str, code: int | str) -> None:
        resource, verb = observing.request_labels(method, url)
        self.apiserver_requests.labels(resource, verb, str(code)).inc()

    def instrument(self, api: ApiClient) -> None:
        """Count every request ``api`` makes to the Kubernetes API."""
        count_requests(api, self.apiserver_request)


class OperatorMetrics(ProcessMetrics):
    """The scheduler's, the node life cycle's and the callbacks' metrics."""

    def __init__(self, registry: CollectorRegistry, version: str) -> None:
        super().__init__(registry, version)
        self.leader = Gauge(
            "web4ai_leader",
            "1 while this operator replica holds the leader Lease.",
            registry=registry,
        )
        self.schedule_attempts = Counter(
            "web4ai_schedule_attempts",
            "Scheduling decisions for pending tasks by result "
            "(scheduled, unschedulable, conflict, error).",
            ["result"],
            registry=registry,
        )
        self.attempt_duration = Histogram(
            "web4ai_scheduling_attempt_duration_seconds",
            "Duration of one scheduling pass over the pending tasks (decide and bind).",
            buckets=FAST_BUCKETS,
            registry=registry,
        )
        self.queue_wait = Histogram(
            "web4ai_task_queue_wait_seconds",
            "Time from a task's submission to its binding to a node.",
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.task_duration = Histogram(
            "web4ai_task_duration_seconds",
            "Time from submission to the end of a task, by outcome.",
            ["outcome"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.tasks = Counter(
            "web4ai_tasks",
            "Tasks that finished, by outcome (completed, failed, cancelled).",
            ["outcome"],
            registry=registry,
        )
        self.retries = Counter(
            "web4ai_task_retries",
            "Tasks that went back to pending, by reason "
            "(failed, node_lost, timeout, requeued, manual).",
            ["reason"],
            registry=registry,
        )
        self.evictions = Counter(
            "web4ai_node_evictions",
            "Tasks taken off a node, by reason (node_offline, node_deleted, drain_deadline).",
            ["reason"],
            registry=registry,
        )
        self.callbacks = Counter(
            "web4ai_callbacks",
            "Settled task callbacks by outcome (delivered, failed, refused).",
            ["outcome"],
            registry=registry,
        )
        for result in observing.SCHEDULE_RESULTS:
            self.schedule_attempts.labels(result)
        for outcome in observing.TASK_OUTCOMES:
            self.tasks.labels(outcome)
            self.task_duration.labels(outcome)
        for reason in observing.RETRY_REASONS:
            self.retries.labels(reason)
        for reason in observing.EVICTION_REASONS:
            self.evictions.labels(reason)
        for outcome in observing.CALLBACK_OUTCOMES:
            self.callbacks.labels(outcome)

    def task_changed(self, new: TaskBody, old: TaskBody | None, leading: bool) -> None:
        """Outcomes and retries, from a task's transition (counted by the leader only,
        so that replicas do not count a task twice)."""
        if old is None or not leading:
            return
        before, after = bodies.task_phase(old), bodies.task_phase(new)
        if before == after:
            return
        outcome = observing.outcome_of(after)
        if outcome is not None and not before.terminal:
            self.tasks.labels(outcome).inc()
            done = bodies.parse_time(bodies.status_of(new).get("completedAt")) or time.time()
            self.task_duration.labels(outcome).observe(max(0.0, done - bodies.submitted_at(new)))
        reason = observing.retry_reason(before, after, bodies.status_of(new).get("errorMessage"))
        if reason is not None:
            self.retries.labels(reason).inc()


def unregistered() -> OperatorMetrics:
    """Metrics on a registry of their own that nobody serves (a component built
    without the process's wiring, e.g. in a test)."""
    return OperatorMetrics(CollectorRegistry(), "unknown")


class ApiMetrics(ProcessMetrics):
    """The API's request durations and heartbeats."""

    def __init__(self, registry: CollectorRegistry, version: str) -> None:
        super().__init__(registry, version)
        self.http_duration = Histogram(
            "web4ai_http_request_duration_seconds",
            "REST request duration by route name, method and status code.",
            ["route", "method", "code"],
            buckets=FAST_BUCKETS,
            registry=registry,
        )
        self.heartbeats = Counter(
            "web4ai_heartbeats", "Node heartbeats received.", registry=registry
        )
        self._timers: dict[tuple[str, str, int], Histogram] = {}

    def request_timer(self, route: str, method: str, code: int) -> Histogram:
        """The duration histogram of (route, method, code), looked up once (the labels
        are bounded: route names, methods, status codes)."""
        key = (route, method, code)
        timer = self._timers.get(key)
        if timer is None:
            timer = self._timers[key] = self.http_duration.labels(route, method, str(code))
        return timer


class ClusterCollector(Collector):
    """Gauges from the watch cache, computed at scrape time.

    ``active()`` says whether this process speaks for the cluster (the operator's
    leader), so that replicas do not export the same numbers twice.
    """

    def __init__(self, state: ClusterState, active: Callable[[], bool], clock: Callable[[], float]):
        self.state = state
        self.active = active
        self.clock = clock

    def describe(self) -> Iterable[Metric]:
        return []  # computed at scrape time; nothing to check at registration

    def collect(self) -> Iterator[Metric]:
        pending = GaugeMetricFamily(
            "web4ai_pending_tasks",
            "Tasks waiting for a node, by priority and reason (queued, unschedulable).",
            labels=["priority", "reason"],
        )
        nodes = GaugeMetricFamily("web4ai_nodes", "Nodes by status.", labels=["status"])
        agents = GaugeMetricFamily(
            "web4ai_node_agents", "Agents of the nodes whose heartbeats are current."
        )
        if not self.active() or not self.state.synced:
            return
        counts: Tally[tuple[str, str]] = Tally()
        for body in self.state.tasks_by_name.values():
            if bodies.task_phase(body).waiting and not body["metadata"].get("deletionTimestamp"):
                conditions = bodies.status_of(body).get("conditions")
                key = (
                    observing.priority_label(body["spec"].get("priority", TASK["priority"])),
                    observing.pending_reason(conditions),
                )
                counts[key] += 1
        for priority in observing.PRIORITIES:
            for reason in observing.PENDING_REASONS:
                pending.add_metric([priority, reason], counts[(priority, reason)])
        by_status: Tally[str] = Tally()
        live_agents = 0
        now = self.clock()
        interval = self.state.settings().heartbeat_interval
        for node in self.state.nodes_by_name.values():
            if node["metadata"].get("deletionTimestamp"):
                continue
            status = bodies.node_status(node)
            by_status[status.value if status else "offline"] += 1
            if not lease_expired(self.state.lease_renewed(node), interval, now):
                live_agents += int(node["spec"].get("agentsCount", NODE["agentsCount"]))
        for node_status in NodeStatus:
            nodes.add_metric([node_status.value], by_status[node_status.value])
        agents.add_metric([], live_agents)
        yield pending
        yield nodes
        yield agents


class HubCollector(Collector):
    """``web4ai_websocket_clients{transport}`` from the hub, at scrape time."""

    def __init__(self, clients: Callable[[], Iterable[str]]):
        self.clients = clients

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "web4ai_websocket_clients",
            "Connected WebSocket clients by transport (dedicated_port, same_origin).",
            labels=["transport"],
        )
        counts = Tally(self.clients())
        for transport in observing.TRANSPORTS:
            family.add_metric([transport], counts[transport])
        yield family


def metrics_app(registry: CollectorRegistry) -> web.Application:
    """An aiohttp app of its own with ``GET /metrics`` (never behind the ingress)."""
    app = web.Application()
    app.router.add_get("/metrics", make_aiohttp_handler(registry), name="metrics")
    return app


async def serve_metrics(registry: CollectorRegistry, host: str, port: int) -> web.AppRunner:
    """Start the metrics app on ``host:port``; the caller cleans the runner up."""
    runner = web.AppRunner(metrics_app(registry), handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    log.info("metrics on http://%s:%d/metrics", host, port)
    return runner
