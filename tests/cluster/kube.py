"""kubectl, helm and the API, as a user reaches them, for the cluster tests.

The API is reached through its Service with ``kubectl port-forward svc/...`` (what the
chart's NOTES tell a user), on the local cluster and on kind alike. (A Service's
endpoints cannot be loopback addresses, so on the local cluster, where host-network
pods have the node's 127.0.0.x address, only the pods' own addresses are reachable
otherwise.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import requests

from devtools.localcluster.binaries import binary
from devtools.localcluster.controlplane import die_with_parent
from devtools.localcluster.ports import free_port

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "web4ai"
T = TypeVar("T")


def eventually(probe: Callable[[], T | None], within: float, interval: float = 1.0) -> T:
    """Poll ``probe`` until it returns something truthy (exceptions count as not yet)."""
    deadline = time.monotonic() + within
    last: object = None
    while True:
        try:
            value = probe()
            if value:
                return value
            last = value
        except Exception as exc:
            last = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within}s (last: {last!r})")
        time.sleep(interval)


@dataclass
class Kube:
    kubeconfig: str
    local: bool  # the local cluster (host network, loopback) rather than an existing one
    in_cluster_env: dict[str, str] = field(default_factory=dict)

    def run(self, tool: str, *args: str, check: bool = True, timeout: float = 600) -> str:
        result = subprocess.run(
            [str(binary(tool)), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "KUBECONFIG": self.kubeconfig},
        )
        if check and result.returncode != 0:
            raise AssertionError(f"{tool} {' '.join(args)} failed:\n{result.stderr}")
        return result.stdout

    def kubectl(self, *args: str, check: bool = True, timeout: float = 300) -> str:
        return self.run("kubectl", *args, check=check, timeout=timeout)

    def helm(self, *args: str, check: bool = True) -> str:
        return self.run("helm", *args, check=check)

    def json(self, *args: str) -> Any:
        return json.loads(self.kubectl("get", *args, "-o", "json"))

    def pods(self, ns: str, component: str | None = None) -> list[dict[str, Any]]:
        selector = ["-l", f"app.kubernetes.io/component={component}"] if component else []
        items: list[dict[str, Any]] = self.json("pods", "-n", ns, *selector)["items"]
        return [p for p in items if not p["metadata"].get("deletionTimestamp")]

    def exec_python(self, ns: str, pod: str, code: str) -> str:
        """Run Python in the pod's container (the image's interpreter)."""
        return self.kubectl("exec", "-n", ns, pod, "--", "python", "-c", code)


def ready(pod: dict[str, Any]) -> bool:
    conditions = pod.get("status", {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def uninstall(kube: Kube, ns: str) -> None:
    """The README's uninstall: ``helm uninstall`` alone (its pre-delete hook removes what
    the product made at run time)."""
    kube.helm("uninstall", "web4ai", "-n", ns, "--wait", "--timeout", "5m")


@dataclass
class ServiceAccess:
    """The API's base URL through its Service, as a user outside the cluster reaches it."""

    kube: Kube
    ns: str
    service: str
    headers: dict[str, str]
    _forward: subprocess.Popen[bytes] | None = None
    _forward_base: str = ""

    def base(self) -> str:
        """A base URL (``.../api/v1``) that answers /health now."""
        return eventually(self._answering, within=120)

    def _answering(self) -> str | None:
        if self._forward is None or self._forward.poll() is not None:
            self._start_forward()
        for _ in range(20):  # kubectl needs a moment to listen
            if _healthy(self._forward_base):
                return self._forward_base
            time.sleep(0.5)
        self.close()  # a forward to a pod that went away: start another next time
        return None

    def _start_forward(self) -> None:
        port = free_port()
        self._forward = subprocess.Popen(
            [
                str(binary("kubectl")),
                "port-forward",
                "-n",
                self.ns,
                f"svc/{self.service}",
                f"{port}:http",
                "--address",
                "127.0.0.1",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "KUBECONFIG": self.kube.kubeconfig},
            preexec_fn=die_with_parent,
        )
        self._forward_base = f"http://127.0.0.1:{port}/api/v1"

    def close(self) -> None:
        if self._forward is not None:
            self._forward.terminate()
            self._forward.wait(timeout=10)
            self._forward = None

    def call(self, method: str, path: str, body: Any = None) -> Any:
        resp = requests.request(
            method, self.base() + path, json=body, headers=self.headers, timeout=30
        )
        assert resp.status_code == 200, f"{method} {path}: {resp.status_code} {resp.text}"
        return resp.json()

    def submit(self, capability: str, n: int = 1) -> list[str]:
        """``n`` test_tasks that only a node with ``capability`` can take."""
        ids = []
        for i in range(n):
            body = self.call(
                "POST",
                "/tasks",
                {
                    "task_type": "test_task",
                    "input_data": {"message": f"{capability} {i}"},
                    "requirements": {"capabilities": [capability]},
                },
            )
            ids.append(body["task_id"])
        return ids

    def wait_done(self, ids: list[str], within: float = 300) -> list[dict[str, Any]]:
        def finished() -> list[dict[str, Any]] | None:
            tasks = [self.call("GET", f"/tasks/{t}")["task"] for t in ids]
            return tasks if all(t["status"] in ("completed", "failed") for t in tasks) else None

        return eventually(finished, within=within, interval=2)


def _healthy(base: str) -> bool:
    try:
        return requests.get(base + "/health", timeout=5).status_code == 200
    except requests.RequestException:
        return False


class HostNode:
    """A reference node outside the cluster: ``web4ai node`` as a host process."""

    def __init__(self, node_id: str, url: str, key: str, capabilities: str, log: Path) -> None:
        self.node_id = node_id
        self.log = log
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "web4ai",
                "node",
                "--node-id",
                node_id,
                "--orchestrator-url",
                url,
                "--capabilities",
                capabilities,
                "--heartbeat-interval",
                "2",
                "--poll-wait",
                "5",
            ],
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(REPO), "WEB4AI_API_KEY": key},
            preexec_fn=die_with_parent,
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
