"""The cluster tier: a cluster that runs pods, and the image built from the Dockerfile.

By default (``make cluster-test``) a local cluster of two nodes (127.0.0.1 and 127.0.0.2,
containerd + kubelet each, host-network pods) with the image that hack/build-image.sh
built (``WEB4AI_IMAGE``, default web4ai/orchestrator:dev) loaded into its containerd.
With WEB4AI_USE_EXISTING_CLUSTER=1 (``make kind-e2e``), the cluster of KUBECONFIG, whose
nodes already have the image.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from devtools.localcluster.cluster import Cluster, cache_dir
from devtools.localcluster.ports import free_port
from devtools.localcluster.target import resolve_target
from tests.cluster.kube import CHART, Kube, uninstall

IMAGE = os.environ.get("WEB4AI_IMAGE", "web4ai/orchestrator:dev")
# every test of this tier installs, rolls or waits on pods
CLUSTER_TIMEOUT = 900


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/cluster" in str(item.path) and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(CLUSTER_TIMEOUT))


@pytest.fixture(scope="session")
def kube() -> Iterator[Kube]:
    target = resolve_target()
    if target.kubeconfig is not None:
        yield Kube(target.kubeconfig, local=False)
        return
    images = cache_dir() / "images"
    archive, sandbox = images / "web4ai-orchestrator.tar", images / "web4ai-pause.tar"
    if not archive.exists() or not sandbox.exists():
        pytest.fail(f"{archive} or {sandbox} is missing: run `make cluster-image` first")
    with Cluster(sandbox, [archive], nodes=2) as cluster:
        yield Kube(str(cluster.kubeconfig), local=True, in_cluster_env=cluster.in_cluster_env)


def chart_values(kube: Kube, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a user of this cluster sets: the image; on the local cluster also the host
    network, where the API server is (no kube-proxy, no DNS), and ports of its own."""
    repo, tag = IMAGE.rsplit(":", 1)
    values: dict[str, Any] = {
        "image": {"repository": repo, "tag": tag, "pullPolicy": "IfNotPresent"},
        "operator": {"leaseDuration": 10},
        "nodes": {
            "enabled": True,
            "replicas": 1,
            "agents": 2,
            "capabilities": ["test_task", "in_cluster"],
            "autoscaling": {"enabled": False},
        },
        # one shared, busy machine: its load is no reason to skip a node
        "config": {"performance": {"cpuThreshold": 100, "memoryThreshold": 100}},
    }
    if kube.local:
        port = free_port()
        api_url = f"http://127.0.0.1:{port}/api/v1"
        values |= {
            "hostNetwork": True,
            "extraEnv": [{"name": k, "value": v} for k, v in kube.in_cluster_env.items()],
            "service": {"port": port, "websocketPort": free_port()},
            "metrics": {"apiPort": free_port(), "operatorPort": free_port()},
            "discovery": {"apiUrl": api_url},
        }
        values["operator"]["healthPort"] = free_port()
        values["nodes"]["apiUrl"] = api_url
    for key, value in (extra or {}).items():
        values[key] = {**values.get(key, {}), **value} if isinstance(value, dict) else value
    return values


def write_values(path: Path, values: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(values))
    return path


@pytest.fixture(scope="module")
def release(kube: Kube, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """``helm install`` of the chart with the built image, in a namespace of its own;
    uninstalled (after its objects are deleted, as the README says) unless a test did."""
    ns = f"w4a-{uuid.uuid4().hex[:8]}"
    work = tmp_path_factory.mktemp("release")
    values = chart_values(kube)
    values_file = write_values(work / "values.yaml", values)
    kube.helm(
        "install", "web4ai", str(CHART), "-n", ns, "--create-namespace",
        "-f", str(values_file), "--wait", "--timeout", "6m",
    )  # fmt: skip
    info = {"ns": ns, "values": values, "work": work}
    try:
        yield info
    finally:
        print(diagnostics(kube, ns))
        start = time.monotonic()
        if kube.helm("status", "web4ai", "-n", ns, check=False).strip():
            try:
                uninstall(kube, ns)
            except AssertionError as exc:
                print(f"uninstall: {exc}")
            print(f"uninstalled after {time.monotonic() - start:.0f}s")
        kube.kubectl("delete", "namespace", ns, "--timeout=120s", check=False)
        print(f"namespace deleted after {time.monotonic() - start:.0f}s")


def diagnostics(kube: Kube, ns: str) -> str:
    """The pods, events and the last log lines of every container (shown on a failure)."""
    out = [kube.kubectl("get", "pods", "-n", ns, "-o", "wide", check=False)]
    out.append(kube.kubectl("get", "events", "-n", ns, "--sort-by=.lastTimestamp", check=False))
    names = kube.kubectl("get", "pods", "-n", ns, "-o", "name", check=False).split()
    for name in names:
        out.append(f"--- {name}")
        out.append(kube.kubectl("logs", "-n", ns, name, "--tail=40", check=False))
        out.append(kube.kubectl("logs", "-n", ns, name, "--tail=40", "--previous", check=False))
    return "\n".join(out)[-30000:]
