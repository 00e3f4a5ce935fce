"""Shared fixtures. Integration and e2e tests get a real kube-apiserver and etcd for the
whole session, with the shipped CRDs; unit tests use none of them.

With WEB4AI_USE_EXISTING_CLUSTER=1 the cluster of KUBECONFIG is used instead.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes_asyncio import client

from devtools.localcluster.binaries import binary
from devtools.localcluster.controlplane import ControlPlane
from devtools.localcluster.target import resolve_target
from tests.integration.helpers import ApiProcess, OperatorProcess, chart_identities, free_port
from web4ai.k8s import crds as crds_mod
from web4ai.k8s.client import api_client

REPO = Path(__file__).resolve().parents[1]
CRD_DIR = REPO / "crds"


@dataclass(frozen=True)
class Cluster:
    kubeconfig: str

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(binary("kubectl")), f"--kubeconfig={self.kubeconfig}", *args],
            capture_output=True,
            text=True,
            check=check,
            timeout=120,
        )


SLOW_TIERS = ("tests/integration", "tests/e2e", "tests/browser")
CLUSTER_TIER = REPO / "tests" / "cluster"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """tests/cluster (a cluster that runs pods, the image built here) runs only when
    named: `make cluster-test` (a step of .ci/run of its own) or `make kind-e2e`."""
    if collection_path == CLUSTER_TIER:
        named = any(str(CLUSTER_TIER) in str(Path(a).resolve()) for a in config.args)
        return None if named else True
    return None


# pytest's default timeout (pyproject.toml) is short: a unit or controller test takes well
# under a second. A test of the slow tiers gets this much unless it says otherwise with
# pytest.mark.timeout: in random order any one of them may be the first to need the
# session's control plane and pay for starting it (etcd and kube-apiserver may take up
# to a minute each to get ready on a busy machine) and for installing the CRDs.
SLOW_TIER_TIMEOUT = 180


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if any(tier in str(item.path) for tier in SLOW_TIERS):
            item.add_marker(pytest.mark.integration)
            if item.get_closest_marker("timeout") is None:
                item.add_marker(pytest.mark.timeout(SLOW_TIER_TIMEOUT))


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    target = resolve_target()
    if target.kubeconfig is not None:
        yield Cluster(target.kubeconfig)
        return
    with ControlPlane() as plane:
        yield Cluster(str(plane.kubeconfig))


@pytest.fixture(scope="session")
async def api(cluster: Cluster) -> AsyncIterator[client.ApiClient]:
    api = await api_client(cluster.kubeconfig)
    try:
        await crds_mod.install(api, CRD_DIR)
        yield api
    finally:
        await api.close()


@pytest.fixture
def operator(cluster: Cluster, namespace: str, tmp_path: Path) -> Iterator[OperatorProcess]:
    """The operator as a real process, watching the test's namespace."""
    proc = OperatorProcess(cluster.kubeconfig, namespace, tmp_path / "operator.log")
    try:
        yield proc
    finally:
        proc.stop()
        print(proc.output()[-6000:])


ADMIN_KEY = "test-admin-key-" + uuid.uuid4().hex


@dataclass
class Stack:
    """Operator and API processes on one namespace; ``headers`` carry the admin key."""

    namespace: str
    api: ApiProcess
    operator: OperatorProcess
    headers: dict[str, str]
    identities: dict[str, str]


@pytest.fixture(scope="module")
async def stack(
    cluster: Cluster, api: client.ApiClient, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    """The whole control plane of the product for a test module, in its own namespace."""
    ns = f"m-{uuid.uuid4().hex[:10]}"
    await client.CoreV1Api(api).create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=ns))
    )
    logs = tmp_path_factory.mktemp("stack")
    # The operator and the API run as the chart's ServiceAccounts, with tokens issued
    # by the API server: the whole suite proves the chart's RBAC is enough.
    identities = chart_identities(cluster.kubeconfig, ns, logs)
    port = free_port()
    operator = OperatorProcess(
        identities["operator"], ns, logs / "operator.log", f"http://127.0.0.1:{port}/api/v1"
    )
    server = ApiProcess(identities["api"], ns, logs / "api.log", ADMIN_KEY, port=port)
    try:
        await server.wait_ready()
        yield Stack(ns, server, operator, {"Authorization": f"Bearer {ADMIN_KEY}"}, identities)
    finally:
        server.stop()
        operator.stop()
        print((logs / "api.log").read_text()[-4000:])


@pytest.fixture
async def namespace(api: client.ApiClient) -> AsyncIterator[str]:
    """A fresh namespace per test, deleted afterwards."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    core = client.CoreV1Api(api)
    await core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    try:
        yield name
    finally:
        await core.delete_namespace(name)
