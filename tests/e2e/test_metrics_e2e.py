"""Metrics and logs during an end-to-end run: both processes are scraped while tasks
flow through reference nodes, the scrapes pass ``promtool check metrics``, the chart's
dashboard asks only for metrics that exist, and the JSON logs hold no key and no
task input."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from kubernetes_asyncio import client
from prometheus_client.parser import text_string_to_metric_families

from devtools.localcluster.binaries import binary
from tests.conftest import ADMIN_KEY, Cluster, Stack
from tests.e2e.conftest import NodeProcess
from tests.integration.helpers import (
    REPO,
    ApiProcess,
    OperatorProcess,
    chart_identities,
    eventually,
    free_port,
)
from web4ai.client import AsyncClient

pytestmark = pytest.mark.timeout(300)  # several waits of up to 60 s in a row

PLANTED = "planted-secret-" + uuid.uuid4().hex
TASKS = 6
DASHBOARD = REPO / "helm" / "web4ai" / "dashboards" / "web4ai.json"


@dataclass
class Run:
    stack: Stack
    logs: Path
    nodes: list[NodeProcess] = field(default_factory=list)
    completed: int = 0


@pytest.fixture(scope="module")
async def run(
    cluster: Cluster, api: client.ApiClient, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Run]:
    """The product with json logs (as the chart runs it), in a namespace of its own."""
    ns = f"m-{uuid.uuid4().hex[:10]}"
    await client.CoreV1Api(api).create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=ns))
    )
    logs = tmp_path_factory.mktemp("metrics-run")
    identities = chart_identities(cluster.kubeconfig, ns, logs)
    port = free_port()
    operator = OperatorProcess(
        identities["operator"],
        ns,
        logs / "operator.log",
        f"http://127.0.0.1:{port}/api/v1",
        log_format="json",
    )
    server = ApiProcess(
        identities["api"], ns, logs / "api.log", ADMIN_KEY, port=port, log_format="json"
    )
    stack = Stack(ns, server, operator, {"Authorization": f"Bearer {ADMIN_KEY}"}, identities)
    state = Run(stack, logs)
    try:
        await server.wait_ready()
        yield state
    finally:
        for node in state.nodes:
            node.stop()
        server.stop()
        operator.stop()


async def scrape(url: str) -> str:
    async with aiohttp.ClientSession() as s, s.get(url) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain")
        return await r.text()


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [
        (s.name, s.labels, s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


def total(text: str, name: str, **labels: str) -> float:
    return sum(
        v
        for n, ls, v in samples(text)
        if n == name and all(ls.get(k) == want for k, want in labels.items())
    )


def promtool_check(text: str) -> None:
    done = subprocess.run(
        [str(binary("promtool")), "check", "metrics"],
        input=text.encode(),
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()


async def test_pending_rises_then_drains_and_completions_are_counted(run: Run) -> None:
    stack = run.stack
    async with AsyncClient(stack.api.base, ADMIN_KEY) as api:
        # nodes beat every second; 3 x 2 s of silence makes one offline
        await api.request(
            "PUT",
            "/config",
            {
                "orchestrator": {"heartbeat_interval": 2},
                "performance": {"cpu_threshold": 100, "memory_threshold": 100},
            },
        )

        async def leading() -> bool:
            try:  # the operator may still be starting: its metrics port is not open yet
                text = await scrape(stack.operator.metrics_url)
            except aiohttp.ClientConnectionError:
                return False
            return total(text, "web4ai_leader") == 1

        await eventually(leading, within=60)
        ids = [
            await api.submit("test_task", input_data={"message": PLANTED}, priority=2)
            for _ in range(TASKS)
        ]

        async def pending(want: float) -> bool:
            text = await scrape(stack.operator.metrics_url)
            return total(text, "web4ai_pending_tasks") == want

        await eventually(lambda: pending(TASKS), within=60)  # no node yet: all wait
        text = await scrape(stack.operator.metrics_url)
        assert total(text, "web4ai_pending_tasks", priority="2") == TASKS
        run.nodes += [
            NodeProcess(
                stack, f"metrics-node-{i}", run.logs, "--agents", "2", "--log-format", "json"
            )
            for i in range(2)
        ]
        finished = [await api.wait(t, timeout=120) for t in ids]
        run.completed = sum(1 for t in finished if t["status"] == "completed")
        assert run.completed == TASKS
        await eventually(lambda: pending(0), within=60)

        async def counted() -> bool:
            text = await scrape(stack.operator.metrics_url)
            return total(text, "web4ai_tasks_total", outcome="completed") == run.completed

        await eventually(counted, within=60)

        async def both_nodes_live() -> bool:
            # no-op tasks can all finish on the first node to register, before the
            # second's registration reaches the operator
            text = await scrape(stack.operator.metrics_url)
            return (
                total(text, "web4ai_nodes", status="active") == 2
                and total(text, "web4ai_node_agents") == 4
            )

        await eventually(both_nodes_live, within=60)
    operator_text = await scrape(stack.operator.metrics_url)
    api_text = await scrape(stack.api.metrics_url)
    assert total(operator_text, "web4ai_schedule_attempts_total", result="scheduled") >= TASKS
    assert total(operator_text, "web4ai_task_queue_wait_seconds_count") >= TASKS
    assert total(operator_text, "web4ai_task_duration_seconds_count", outcome="completed") == TASKS
    assert total(operator_text, "web4ai_nodes", status="active") == 2
    assert total(operator_text, "web4ai_node_agents") == 4
    assert total(operator_text, "web4ai_apiserver_requests_total", verb="patch") > 0
    assert total(api_text, "web4ai_heartbeats_total") > 0
    assert total(api_text, "web4ai_apiserver_requests_total", verb="watch") > 0
    assert total(api_text, "web4ai_http_request_duration_seconds_count", route="tasks_submit") == (
        TASKS
    )
    for text in (operator_text, api_text):
        assert total(text, "web4ai_build_info") == 1
        for _, labels, _ in samples(text):  # bounded: no task id in any label
            assert not any(t in labels.values() for t in ids)
        promtool_check(text)


async def test_metrics_are_not_on_the_api_port(run: Run) -> None:
    """/metrics has a port of its own; the API's port (behind the ingress) has none."""
    base = run.stack.api.base.removesuffix("/api/v1")
    async with aiohttp.ClientSession() as s:
        for path in ("/metrics", "/api/v1/metrics/prometheus"):
            async with s.get(base + path, headers=run.stack.headers) as r:
                assert "# TYPE web4ai_" not in await r.text(), path


async def test_a_dead_node_shows_as_offline_and_its_task_is_evicted(run: Run) -> None:
    async with AsyncClient(run.stack.api.base, ADMIN_KEY) as api:
        task_id = await api.submit("test_task", input_data={"sleep_seconds": 30})

        async def holder() -> str | None:
            t = await api.get(task_id)
            return str(t["node_id"]) if t["phase"] == "running" else None

        victim = await eventually(holder, within=60)
        next(n for n in run.nodes if n.node_id == victim).stop(signal.SIGKILL)

        async def offline_and_evicted() -> bool:
            text = await scrape(run.stack.operator.metrics_url)
            return (
                total(text, "web4ai_nodes", status="offline") == 1
                and total(text, "web4ai_node_evictions_total", reason="node_offline") == 1
                and total(text, "web4ai_task_retries_total", reason="node_lost") == 1
            )

        await eventually(offline_and_evicted, within=60)
        await api.cancel(task_id)  # the survivor need not sleep it through


async def test_every_metric_of_the_dashboard_is_in_a_live_scrape(run: Run) -> None:
    names = {
        n
        for url in (run.stack.operator.metrics_url, run.stack.api.metrics_url)
        for n, _, _ in samples(await scrape(url))
    }
    board = json.loads(DASHBOARD.read_text())
    exprs = [
        target["expr"]
        for panel in board["panels"]
        for target in panel.get("targets", [])
        if "expr" in target
    ]
    assert exprs
    used = {m for expr in exprs for m in re.findall(r"\bweb4ai_[a-z_]+", expr)}
    assert used
    assert used <= names, sorted(used - names)


async def test_the_logs_hold_no_key_and_no_task_input(run: Run) -> None:
    for node in run.nodes:
        node.stop()
    run.stack.operator.log.flush()
    files = sorted(run.logs.glob("*.log"))
    assert len(files) >= 4
    text = "\n".join(f.read_text(errors="replace") for f in files)
    assert ADMIN_KEY not in text
    assert PLANTED not in text
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert lines
    assert any("task_id" in line for line in lines)
    assert any("node_id" in line for line in lines)
