"""The chart on a cluster without a pod network, kube-proxy or DNS (what the real run on
the local cluster needed; tests/cluster installs it there): host-network pods listen
on their own address, roll one at a time, find the API server and the API by the
values, and the operator's leader identity names its pod."""

from __future__ import annotations

from typing import Any

import yaml

from tests.integration.helpers import REPO, helm

CHART = str(REPO / "helm" / "web4ai")
HOST_NETWORK = [
    "--set", "hostNetwork=true",
    "--set", "extraEnv[0].name=KUBERNETES_SERVICE_HOST",
    "--set", "extraEnv[0].value=127.0.0.1",
    "--set", "nodes.enabled=true",
    "--set", "nodes.apiUrl=http://127.0.0.1:9000/api/v1",
    "--set", "operator.healthPort=18080",
]  # fmt: skip


def deployments(*args: str) -> dict[str, dict[str, Any]]:
    out = helm("template", "web4ai", CHART, "--namespace", "w", *args)
    assert out.returncode == 0, out.stderr
    docs = [d for d in yaml.safe_load_all(out.stdout) if d and d["kind"] == "Deployment"]
    return {d["metadata"]["labels"]["app.kubernetes.io/component"]: d for d in docs}


def env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_host_network_pods_listen_on_their_own_address_and_roll_one_at_a_time() -> None:
    found = deployments(*HOST_NETWORK)
    assert set(found) == {"operator", "api", "node"}
    for name, d in found.items():
        pod = d["spec"]["template"]["spec"]
        container = pod["containers"][0]
        assert pod["hostNetwork"] is True and pod["dnsPolicy"] == "ClusterFirstWithHostNet"
        assert env(container)["KUBERNETES_SERVICE_HOST"] == "127.0.0.1", name
        assert "0.0.0.0" not in " ".join(container["args"]), name
        if name != "node":  # a surge pod could never be scheduled beside the old one
            assert d["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}
    operator = found["operator"]["spec"]["template"]["spec"]["containers"][0]
    assert "http://$(POD_IP):18080/healthz" in operator["args"]
    assert operator["ports"][0] == {"name": "health", "containerPort": 18080}
    assert env(operator)["POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    api = found["api"]["spec"]["template"]["spec"]["containers"][0]
    assert api["args"][api["args"].index("--host") + 1] == "$(POD_IP)"
    node = found["node"]["spec"]["template"]["spec"]["containers"][0]
    assert env(node)["WEB4AI_URL"] == "http://127.0.0.1:9000/api/v1"


def test_by_default_pods_use_the_pod_network_and_listen_everywhere() -> None:
    found = deployments("--set", "nodes.enabled=true")
    for name, d in found.items():
        pod = d["spec"]["template"]["spec"]
        assert "hostNetwork" not in pod and "strategy" not in d["spec"], name
        assert "KUBERNETES_SERVICE_HOST" not in env(pod["containers"][0])
    operator = found["operator"]["spec"]["template"]["spec"]["containers"][0]
    assert "http://0.0.0.0:8080/healthz" in operator["args"]
    node = found["node"]["spec"]["template"]["spec"]["containers"][0]
    assert env(node)["WEB4AI_URL"] == "http://web4ai-api.w.svc:9000/api/v1"
