"""Installing into a cluster: the chart and the manifests against a real API server,
values.schema.json, upgrades, the Dockerfile, and least-privilege RBAC."""

from __future__ import annotations

import base64
import filecmp
import json
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_asyncio import client

from tests.conftest import ADMIN_KEY, Cluster, Stack
from tests.integration.apiclient import Http
from tests.integration.helpers import REPO, ApiProcess, eventually, helm, kubectl

pytestmark = pytest.mark.timeout(300)  # helm and promtool calls of up to 120 s each

CHART = str(REPO / "helm" / "web4ai")


def test_generated_copies_have_not_drifted(tmp_path: Path) -> None:
    """crds/ and the chart are the single sources; `make manifests` regenerates the rest."""
    result = subprocess.run(
        [str(REPO / "hack" / "manifests.sh"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    for rel in ("helm/web4ai/crds", "manifests", "manifests/crds"):
        cmp = filecmp.dircmp(tmp_path / rel, REPO / rel)
        assert not cmp.diff_files and not cmp.left_only, (
            f"{rel} drifted from its source: run `make manifests` ({cmp.diff_files} "
            f"{cmp.left_only})"
        )


def test_helm_lint_and_render() -> None:
    lint = helm("lint", CHART, "--strict")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    out = helm("template", "web4ai", CHART, "--namespace", "x", "--set", "ingress.enabled=true")
    assert out.returncode == 0, out.stderr
    docs = [d for d in yaml.safe_load_all(out.stdout) if d]
    kinds = sorted({d["kind"] for d in docs})
    assert kinds == [
        "Deployment",
        "Ingress",
        "Job",  # the pre-delete hook (helm uninstall)
        "PodDisruptionBudget",
        "Role",
        "RoleBinding",
        "Secret",
        "Service",
        "ServiceAccount",
        "Web4AIOrchestrator",
    ]
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    assert deployments["web4ai-api"]["spec"]["replicas"] == 2
    hooks = [d for d in docs if "helm.sh/hook" in (d["metadata"].get("annotations") or {})]
    by_hook = {(d["kind"], d["metadata"]["annotations"]["helm.sh/hook"]) for d in hooks}
    # the orchestrator is seeded before the pods, which seed one of their own otherwise
    assert ("Web4AIOrchestrator", "pre-install") in by_hook
    assert {hook for _, hook in by_hook} == {"pre-delete", "pre-install"}
    [job] = [d for d in hooks if d["kind"] == "Job"]
    for d in [*deployments.values(), job]:
        pod = d["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        c = pod["containers"][0]
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        assert c["securityContext"]["allowPrivilegeEscalation"] is False
        assert "resources" in c
        assert "readinessProbe" in c or d is job
        assert pod["serviceAccountName"] == d["metadata"]["name"]
    # no ClusterRole: everything the product touches is namespaced
    assert not [d for d in docs if d["kind"].startswith("Cluster")]


@pytest.mark.parametrize(
    "bad",
    [
        "operator.replicas=0",
        "config.network.loadBalanceAlgorithm=random",
        "config.performance.cpuThreshold=150",
        "service.port=70000",
        "unknownKey=1",
        "config.orchestrator.heartbeatInterval=fast",
        "logFormat=xml",
        "nodes.agents=0",
        "monitoring.serviceMonitor.interval=often",
    ],
)
def test_values_schema_rejects_bad_values(bad: str) -> None:
    result = helm("template", "web4ai", CHART, "--set", bad)
    assert result.returncode != 0
    assert "schema" in result.stderr.lower() or "values don't meet" in result.stderr.lower()


async def fresh_namespace(api: client.ApiClient) -> str:
    name = f"i-{uuid.uuid4().hex[:8]}"
    await client.CoreV1Api(api).create_namespace({"metadata": {"name": name}})
    return name


async def test_chart_passes_server_side_dry_run(cluster: Cluster, api: client.ApiClient) -> None:
    ns = await fresh_namespace(api)
    out = helm("template", "web4ai", CHART, "--namespace", ns, "--set", "ingress.enabled=true")
    assert out.returncode == 0, out.stderr
    applied = kubectl(cluster.kubeconfig, "apply", "--dry-run=server", "-f", "-", stdin=out.stdout)
    assert applied.returncode == 0, applied.stderr
    assert "deployment.apps/web4ai-api created (server dry run)" in applied.stdout


async def test_manifests_pass_server_side_dry_run(cluster: Cluster, api: client.ApiClient) -> None:
    kubectl(cluster.kubeconfig, "create", "namespace", "web4ai")  # may exist already
    applied = kubectl(
        cluster.kubeconfig, "apply", "-k", str(REPO / "manifests"), "--dry-run=server"
    )
    assert applied.returncode == 0, applied.stderr
    assert "web4aiorchestrator.web4ai.io/web4ai created (server dry run)" in applied.stdout


async def test_upgrade_keeps_the_generated_admin_key(
    cluster: Cluster, api: client.ApiClient
) -> None:
    ns = await fresh_namespace(api)
    common = ["--namespace", ns, "--kubeconfig", cluster.kubeconfig]
    install = helm("install", "web4ai", CHART, *common)
    assert install.returncode == 0, install.stderr
    assert "kubectl get secret web4ai-admin-key" in install.stdout  # NOTES tell how

    async def key() -> str:
        secret = await client.CoreV1Api(api).read_namespaced_secret("web4ai-admin-key", ns)
        return base64.b64decode(secret.data["api-key"]).decode()

    first = await key()
    assert first.startswith("w4a_") and len(first) > 40
    upgrade = helm("upgrade", "web4ai", CHART, *common, "--set", "api.replicas=3")
    assert upgrade.returncode == 0, upgrade.stderr
    assert await key() == first
    deploy = await client.AppsV1Api(api).read_namespaced_deployment("web4ai-api", ns)
    assert deploy.spec.replicas == 3


async def test_upgrade_keeps_what_put_config_set(
    cluster: Cluster, api: client.ApiClient, tmp_path: Path
) -> None:
    """The chart seeds the Web4AIOrchestrator on install only: a `helm upgrade` (even
    one that sets config values) leaves what PUT /config changed."""
    ns = await fresh_namespace(api)
    common = ["--namespace", ns, "--kubeconfig", cluster.kubeconfig]
    install = helm("install", "web4ai", CHART, *common, "--set", "config.network.maxNodes=50")
    assert install.returncode == 0, install.stderr
    objects = client.CustomObjectsApi(api)

    async def spec() -> dict[str, Any]:
        orch = await objects.get_namespaced_custom_object(
            "web4ai.io", "v1alpha1", ns, "web4aiorchestrators", "web4ai"
        )
        return orch["spec"]  # type: ignore[no-any-return]

    assert (await spec())["network"]["maxNodes"] == 50
    server = ApiProcess(cluster.kubeconfig, ns, tmp_path / "api.log", ADMIN_KEY)
    try:
        await server.wait_ready()
        http = Http(server.base, {"Authorization": f"Bearer {ADMIN_KEY}"})
        status, body, _ = await http.call("PUT", "/config", {"network": {"max_nodes": 42}})
        assert status == 200, body
        for extra in ([], ["--set", "config.network.maxNodes=60", "--set", "api.replicas=3"]):
            upgrade = helm("upgrade", "web4ai", CHART, *common, *extra)
            assert upgrade.returncode == 0, upgrade.stderr
            assert (await spec())["network"]["maxNodes"] == 42
            status, body, _ = await http.call("GET", "/config")
            assert status == 200 and body["config"]["network"]["max_nodes"] == 42, body
    finally:
        server.stop()
    deploy = await client.AppsV1Api(api).read_namespaced_deployment("web4ai-api", ns)
    assert deploy.spec.replicas == 3  # the rest of the release did upgrade


def test_the_product_runs_as_the_chart_service_accounts_and_no_more(stack: Stack) -> None:
    """The stack of this suite authenticates as the chart's ServiceAccounts (see
    tests/conftest.py); here, what lies outside their Roles is denied."""
    operator, api_sa = stack.identities["operator"], stack.identities["api"]
    who = kubectl(operator, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
    assert who.stdout == f"system:serviceaccount:{stack.namespace}:web4ai-operator"
    denied = [
        kubectl(operator, "get", "secrets"),
        kubectl(operator, "get", "pods"),
        kubectl(operator, "create", "namespace", "nope"),
        kubectl(api_sa, "delete", "web4aitask", "anything"),
        kubectl(api_sa, "get", "configmaps"),
        kubectl(api_sa, "get", "secret", "some-other-secret"),
        kubectl(api_sa, "get", "web4ainodes", "-n", "default"),
    ]
    for result in denied:
        assert result.returncode != 0
        assert "forbidden" in result.stderr.lower(), result.stderr
    allowed = kubectl(api_sa, "get", "web4aitasks")
    assert allowed.returncode == 0, allowed.stderr


def test_dockerfile_passes_hadolint() -> None:
    import shutil
    import sys

    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run(
        [hadolint, str(REPO / "Dockerfile")], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    text = (REPO / "Dockerfile").read_text()
    assert "USER 10001" in text and text.count("FROM ") == 2  # non-root, multi-stage


MONITORING = REPO / "tests" / "monitoring"
MONITORING_ON = [
    "--set",
    "monitoring.serviceMonitor.enabled=true",
    "--set",
    "monitoring.prometheusRule.enabled=true",
    "--set",
    "monitoring.dashboard.enabled=true",
    "--set",
    "nodes.enabled=true",
    "--set",
    "nodes.capabilities={test_task,ai_inference}",
    "--set",
    "config.network.minNodes=2",
    "--set",
    "config.network.maxNodes=7",
    "--set",
    "ingress.enabled=true",
]


def render_monitoring(ns: str) -> tuple[str, list[dict[str, Any]]]:
    out = helm("template", "web4ai", CHART, "--namespace", ns, *MONITORING_ON)
    assert out.returncode == 0, out.stderr
    return out.stdout, [d for d in yaml.safe_load_all(out.stdout) if d]


def test_monitoring_and_nodes_render() -> None:
    _, docs = render_monitoring("x")
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    assert {"ServiceMonitor", "PrometheusRule", "HorizontalPodAutoscaler", "ConfigMap"} <= set(
        by_kind
    )
    alerts = {
        r["alert"] for g in by_kind["PrometheusRule"][0]["spec"]["groups"] for r in g["rules"]
    }
    assert alerts == {
        "Web4AINodesOffline",
        "Web4AIPendingTasksGrowing",
        "Web4AISchedulingStalled",
        "Web4AICallbacksFailing",
        "Web4AINoLeader",
    }
    board = by_kind["ConfigMap"][0]
    assert board["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert {p["title"] for p in json.loads(board["data"]["web4ai.json"])["panels"]} >= {
        "Overview",
        "Scheduling",
        "Nodes",
        "API",
    }
    hpa = by_kind["HorizontalPodAutoscaler"][0]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 7)  # config.network.min/max
    assert hpa["metrics"][0]["external"]["metric"]["name"] == "web4ai_pending_tasks"
    deployments = {d["metadata"]["name"]: d for d in by_kind["Deployment"]}
    node = deployments["web4ai-node"]["spec"]["template"]["spec"]["containers"][0]
    assert "replicas" not in deployments["web4ai-node"]["spec"]  # the HPA owns it
    assert "test_task,ai_inference" in node["args"]
    for name, port in (("web4ai-api", 9100), ("web4ai-operator", 8081)):
        c = deployments[name]["spec"]["template"]["spec"]["containers"][0]
        assert {"name": "metrics", "containerPort": port} in c["ports"]
        assert c["args"][c["args"].index("--log-format") + 1] == "json"
    # the ingress routes to the API's http port only, never to /metrics
    ingress = json.dumps(by_kind["Ingress"][0]["spec"])
    assert "metrics" not in ingress and "9100" not in ingress


async def test_monitoring_and_nodes_pass_server_side_dry_run(
    cluster: Cluster, api: client.ApiClient
) -> None:
    crds = kubectl(cluster.kubeconfig, "apply", "-f", str(MONITORING / "monitoring-crds.yaml"))
    assert crds.returncode == 0, crds.stderr
    ns = await fresh_namespace(api)
    rendered, _ = render_monitoring(ns)

    def dry_run() -> subprocess.CompletedProcess[str]:
        return kubectl(cluster.kubeconfig, "apply", "--dry-run=server", "-f", "-", stdin=rendered)

    applied = dry_run()
    if "no matches for kind" in applied.stderr:  # the new CRDs are not served yet
        await eventually(lambda: _served(dry_run), within=60)
        applied = dry_run()
    assert applied.returncode == 0, applied.stderr
    for obj in (
        "horizontalpodautoscaler.autoscaling/web4ai-node",
        "deployment.apps/web4ai-node",
        "servicemonitor.monitoring.coreos.com/web4ai",
        "prometheusrule.monitoring.coreos.com/web4ai",
        "configmap/web4ai-dashboard",
        "service/web4ai-metrics",
    ):
        assert f"{obj} created (server dry run)" in applied.stdout, applied.stdout


async def _served(dry_run: Any) -> bool:
    return "no matches for kind" not in dry_run().stderr


def test_alerts_pass_promtool_rule_tests(tmp_path: Path) -> None:
    """`promtool check rules` and `promtool test rules` on the rendered PrometheusRule."""
    from devtools.localcluster.binaries import binary

    _, docs = render_monitoring("x")
    rule = next(d for d in docs if d["kind"] == "PrometheusRule")
    (tmp_path / "alerts.yaml").write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    shutil.copy(MONITORING / "alerts_test.yaml", tmp_path / "alerts_test.yaml")
    promtool = str(binary("promtool"))
    for args in (["check", "rules", "alerts.yaml"], ["test", "rules", "alerts_test.yaml"]):
        done = subprocess.run(
            [promtool, *args], cwd=tmp_path, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stdout + done.stderr
