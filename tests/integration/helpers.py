"""Objects as the API creates them, written straight to the real API server."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from devtools.localcluster.controlplane import die_with_parent
from devtools.localcluster.ports import free_port as free_port
from web4ai.core.bodies import NODE_FINALIZER, ORCHESTRATOR_NAME, format_time
from web4ai.core.ids import IdKind, identity, node_lease_name
from web4ai.core.resources import GROUP, NODES, ORCHESTRATORS, TASKS, VERSION

REPO = Path(__file__).resolve().parents[2]
MERGE = "application/merge-patch+json"
T = TypeVar("T")
Body = dict[str, Any]


def co(api: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api)


async def eventually(
    probe: Callable[[], Awaitable[T | None]], within: float = 30.0, interval: float = 0.1
) -> T:
    """Poll ``probe`` until it returns something truthy."""
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within}s (last: {value!r})")
        await asyncio.sleep(interval)


async def configure(api: client.ApiClient, ns: str, **spec: Any) -> Body:
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Web4AIOrchestrator",
        "metadata": {"name": ORCHESTRATOR_NAME},
        "spec": spec,
    }
    try:
        result: Body = await co(api).create_namespaced_custom_object(
            GROUP, VERSION, ns, ORCHESTRATORS.plural, body
        )
    except ApiException as exc:
        if exc.status != 409:
            raise
        result = await co(api).patch_namespaced_custom_object(
            GROUP,
            VERSION,
            ns,
            ORCHESTRATORS.plural,
            ORCHESTRATOR_NAME,
            {"spec": spec},
            _content_type=MERGE,
        )
    return result


async def add_node(
    api: client.ApiClient,
    ns: str,
    node_id: str,
    *,
    status: str = "active",
    capabilities: list[str] | None = None,
    agents: int = 1,
    lease: bool = True,
    **observed: Any,
) -> str:
    ident = identity(IdKind.NODE, node_id)
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Web4AINode",
        "metadata": {"name": ident.name, "labels": ident.labels, "finalizers": [NODE_FINALIZER]},
        "spec": {
            "nodeId": node_id,
            "host": "127.0.0.1",
            "agentsCount": agents,
            "capabilities": capabilities or [],
        },
    }
    await co(api).create_namespaced_custom_object(GROUP, VERSION, ns, NODES.plural, body)
    now = time.time()
    await co(api).patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        ns,
        NODES.plural,
        ident.name,
        {"status": {"status": status, "lastHeartbeat": format_time(now), **observed}},
        _content_type=MERGE,
    )
    if lease:
        await renew_lease(api, ns, node_id)
    return ident.name


async def renew_lease(api: client.ApiClient, ns: str, node_id: str) -> None:
    ident = identity(IdKind.NODE, node_id)
    coord = client.CoordinationV1Api(api)
    spec = {
        "holderIdentity": node_id,
        "leaseDurationSeconds": 90,
        "renewTime": format_time(time.time()),
    }
    try:
        await coord.patch_namespaced_lease(node_lease_name(ident.name), ns, {"spec": spec})
    except ApiException as exc:
        if exc.status != 404:
            raise
        await coord.create_namespaced_lease(
            ns,
            {
                "metadata": {"name": node_lease_name(ident.name), "labels": ident.labels},
                "spec": spec,
            },
        )


async def set_node(api: client.ApiClient, ns: str, node_id: str, **status: Any) -> None:
    await co(api).patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        ns,
        NODES.plural,
        identity(IdKind.NODE, node_id).name,
        {"status": status},
        _content_type=MERGE,
    )


async def add_task(api: client.ApiClient, ns: str, task_id: str, **spec: Any) -> str:
    ident = identity(IdKind.TASK, task_id)
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Web4AITask",
        "metadata": {"name": ident.name, "labels": ident.labels},
        "spec": {
            "taskId": task_id,
            "taskType": "test_task",
            "submittedAt": format_time(time.time()),
            **spec,
        },
    }
    await co(api).create_namespaced_custom_object(GROUP, VERSION, ns, TASKS.plural, body)
    return ident.name


async def get_task(api: client.ApiClient, ns: str, task_id: str) -> Body:
    result: Body = await co(api).get_namespaced_custom_object(
        GROUP, VERSION, ns, TASKS.plural, identity(IdKind.TASK, task_id).name
    )
    return result


async def task_status(api: client.ApiClient, ns: str, task_id: str) -> Body:
    return (await get_task(api, ns, task_id)).get("status") or {}


async def finish(
    api: client.ApiClient, ns: str, task_id: str, outcome: str = "completed", **extra: Any
) -> None:
    await co(api).patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        ns,
        TASKS.plural,
        identity(IdKind.TASK, task_id).name,
        {"status": {"status": outcome, "completedAt": format_time(time.time()), **extra}},
        _content_type=MERGE,
    )


class ManagedProcess:
    """A child process with a log file; ``stop`` sends a signal, then kills after 15 s."""

    proc: subprocess.Popen[bytes]
    log: Any

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class OperatorProcess(ManagedProcess):
    """``python -m web4ai.operator`` as a real process."""

    def __init__(
        self,
        kubeconfig: str,
        namespace: str,
        log_path: Path,
        api_url: str | None = None,
        log_format: str = "text",
    ) -> None:
        self.log_path = log_path
        self.log = log_path.open("ab")
        self.metrics_port = free_port()
        self.metrics_url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "web4ai.operator",
                "--namespace",
                namespace,
                "--kubeconfig",
                kubeconfig,
                "--lease-duration",
                "3",
                "--retry-period",
                "0.5",
                *(["--api-url", api_url] if api_url else []),
                "--metrics-port",
                str(self.metrics_port),
                "--log-format",
                log_format,
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            preexec_fn=die_with_parent,
        )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


class ApiProcess(ManagedProcess):
    """``python -m web4ai.api`` as a real process on free loopback ports."""

    def __init__(
        self,
        kubeconfig: str,
        namespace: str,
        log_path: Path,
        admin_key: str,
        port: int | None = None,
        ws_port: int | None = None,
        log_format: str = "text",
    ) -> None:
        self.port, self.ws_port = port or free_port(), ws_port or free_port()
        self.metrics_port = free_port()
        self.metrics_url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        self.base = f"http://127.0.0.1:{self.port}/api/v1"
        self.ws = f"ws://127.0.0.1:{self.ws_port}"
        self.log_path = log_path
        self.log = log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "web4ai.api",
                "--namespace",
                namespace,
                "--kubeconfig",
                kubeconfig,
                "--port",
                str(self.port),
                "--ws-port",
                str(self.ws_port),
                "--metrics-port",
                str(self.metrics_port),
                "--log-format",
                log_format,
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(REPO), "WEB4AI_API_KEY": admin_key},
            preexec_fn=die_with_parent,
        )

    async def wait_ready(self) -> None:
        import aiohttp

        async def up() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"API exited:\n{self.log_path.read_text()[-3000:]}")
            try:
                async with aiohttp.ClientSession() as s, s.get(f"{self.base}/health") as r:
                    return r.status == 200
            except aiohttp.ClientError:
                return False

        await eventually(up, within=60)


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    from devtools.localcluster.binaries import binary

    return subprocess.run([str(binary("helm")), *args], capture_output=True, text=True, timeout=120)


def kubectl(
    kubeconfig: str, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    from devtools.localcluster.binaries import binary

    return subprocess.run(
        [str(binary("kubectl")), f"--kubeconfig={kubeconfig}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        input=stdin,
    )


def chart_identities(kubeconfig: str, namespace: str, out: Path) -> dict[str, str]:
    """Apply the chart's ServiceAccounts and RBAC to ``namespace`` and return, per
    component, a kubeconfig that authenticates as its ServiceAccount with a token
    issued by the API server (TokenRequest)."""
    import yaml

    rendered = helm(
        "template",
        "web4ai",
        str(REPO / "helm" / "web4ai"),
        "--namespace",
        namespace,
        "--show-only",
        "templates/serviceaccounts.yaml",
        "--show-only",
        "templates/rbac.yaml",
    )
    assert rendered.returncode == 0, rendered.stderr
    applied = kubectl(kubeconfig, "apply", "-f", "-", stdin=rendered.stdout)
    assert applied.returncode == 0, applied.stderr
    admin = yaml.safe_load(Path(kubeconfig).read_text())
    cluster = admin["clusters"][0]["cluster"]
    paths = {}
    for component in ("operator", "api"):
        token = kubectl(
            kubeconfig,
            "create",
            "token",
            f"web4ai-{component}",
            "-n",
            namespace,
            "--duration",
            "3h",
        )
        assert token.returncode == 0, token.stderr
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "c", "cluster": cluster}],
            "users": [{"name": component, "user": {"token": token.stdout.strip()}}],
            "contexts": [
                {
                    "name": component,
                    "context": {"cluster": "c", "user": component, "namespace": namespace},
                }
            ],
            "current-context": component,
        }
        path = out / f"{component}.kubeconfig"
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)
        paths[component] = str(path)
    return paths
