"""Everything a request handler needs, passed explicitly through typed AppKeys."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry

from web4ai.api.auth import KeyStore
from web4ai.api.fulltasks import FullTasks
from web4ai.api.history import History
from web4ai.api.hub import Hub
from web4ai.api.taskviews import TaskViews
from web4ai.core.bodies import format_time
from web4ai.core.nodetotals import NodeTotals
from web4ai.core.progress import Coalescer
from web4ai.core.ratelimit import FailureLimiter, PacedLimiter, RateLimiter
from web4ai.core.renewals import Renewals
from web4ai.core.schemas.requests import Heartbeat
from web4ai.k8s.cache import ClusterState
from web4ai.k8s.writing import Writer
from web4ai.observability.metrics import ApiMetrics


@dataclass
class ApiStats:
    start_time: float
    requests_total: int = 0
    requests_success: int = 0
    requests_error: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "requests_total": self.requests_total,
            "requests_success": self.requests_success,
            "requests_error": self.requests_error,
            "start_time": format_time(self.start_time),
        }


@dataclass
class ApiContext:
    state: ClusterState
    writer: Writer
    keys: KeyStore
    hub: Hub
    clock: Callable[[], float]
    stats: ApiStats
    limiter: RateLimiter
    websocket_url: str
    version: str
    ws_port: int = 9001  # where the websockets server listens (websocket.port at start)
    auth_failures: FailureLimiter = field(default_factory=FailureLimiter)
    paced: PacedLimiter = field(default_factory=PacedLimiter)  # heartbeats, registrations
    # heartbeats write node status at least this often even when nothing moved (the
    # kubelet's nodeStatusReportFrequency, 5 min); liveness is the Lease, renewed by
    # the heartbeats, and last_heartbeat is read from it
    status_refresh: float = 300.0
    # which heartbeats renew their Lease at once and which are held (api.renewing)
    renewals: Renewals = field(default_factory=Renewals)
    # node id -> (heartbeat, when): status refreshes written in batches (api.refreshing)
    refreshes: dict[str, tuple[Heartbeat, float]] = field(default_factory=dict)
    waiters: dict[str, set[asyncio.Event]] = field(default_factory=dict)
    closing: bool = False  # shutting down: long-polls answer at once
    # node id -> names of tasks assigned to it and not started: what a poll offers
    assigned: dict[str, set[str]] = field(default_factory=dict)
    # node id -> {task id: when cancelled}: what heartbeats and polls tell the node
    cancelled: dict[str, dict[str, float]] = field(default_factory=dict)
    memo: dict[Hashable, tuple[Hashable, Any]] = field(default_factory=dict)
    # tasks' progress reports: one status write per task every 2 s, in the background
    progress: Coalescer = field(default_factory=Coalescer)
    progress_writes: set[asyncio.Task[None]] = field(default_factory=set)
    history: History = field(default_factory=History)
    task_views: TaskViews = field(default_factory=TaskViews)
    full_tasks: FullTasks = field(default_factory=FullTasks)  # finished tasks, read whole
    node_totals: NodeTotals = field(default_factory=NodeTotals)  # kept by the node hooks
    metrics: ApiMetrics = field(default_factory=lambda: ApiMetrics(CollectorRegistry(), "unknown"))

    def memoized(self, key: Hashable, version: Hashable, compute: Callable[[], Any]) -> Any:
        """``compute()``, reused while ``version`` (the stores' versions) is unchanged:
        reads are served from memory and rendered once per change, not per request."""
        hit = self.memo.get(key)
        if hit is not None and hit[0] == version:
            return hit[1]
        value = compute()
        if len(self.memo) > 1024:
            self.memo.clear()
        self.memo[key] = (version, value)
        return value

    @property
    def orchestrator_id(self) -> str:
        return self.state.settings().orchestrator_id

    def wake(self, node_id: str) -> None:
        """Wake the long-polls of ``node_id`` (a task was assigned to it)."""
        for event in self.waiters.get(node_id, ()):
            event.set()

    def close_polls(self) -> None:
        """Shutting down: every long-poll answers now, and new ones do not wait (the
        server would otherwise wait out each ``wait`` before it can stop)."""
        self.closing = True
        for events in self.waiters.values():
            for event in events:
                event.set()


CONTEXT: web.AppKey[ApiContext] = web.AppKey("context", ApiContext)
