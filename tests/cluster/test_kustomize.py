"""``kubectl apply -k manifests/`` on a fresh namespace, through an overlay as a user
writes one: the namespace and the image; on the local cluster also the host network,
where the API server is, and ports of its own (derived from the base's own args)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import yaml

from devtools.localcluster.ports import free_port
from tests.cluster.conftest import IMAGE, diagnostics
from tests.cluster.kube import REPO, Kube, ServiceAccess, eventually, ready

BASE = REPO / "manifests"
DEFAULT_PORTS = ("9000", "9001", "9100", "8080", "8081")


def host_network_patches(kube: Kube) -> list[dict[str, Any]]:
    """JSON patches that put each Deployment of the base on the host network, each
    process on its pod's address and ports of its own."""
    ports = {p: str(free_port()) for p in DEFAULT_PORTS}
    env = [{"name": k, "value": v} for k, v in kube.in_cluster_env.items()]
    out = []
    for doc in yaml.safe_load_all((BASE / "web4ai.yaml").read_text()):
        if not doc or doc["kind"] != "Deployment":
            continue
        container = doc["spec"]["template"]["spec"]["containers"][0]
        args = [_swap(a, ports) for a in container["args"]]
        path = "/spec/template/spec/containers/0"
        ops = [
            {"op": "add", "path": "/spec/template/spec/hostNetwork", "value": True},
            {"op": "add", "path": "/spec/template/spec/dnsPolicy",
             "value": "ClusterFirstWithHostNet"},
            {"op": "add", "path": "/spec/strategy",
             "value": {"type": "RollingUpdate",
                       "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}},
            {"op": "replace", "path": f"{path}/args", "value": args},
            *({"op": "add", "path": f"{path}/env/-", "value": e} for e in env),
        ]  # fmt: skip
        for i, port in enumerate(container.get("ports") or []):
            value = int(ports.get(str(port["containerPort"]), port["containerPort"]))
            ops.append({"op": "replace", "path": f"{path}/ports/{i}/containerPort",
                        "value": value})  # fmt: skip
        name = doc["metadata"]["name"]
        out.append({"target": {"kind": "Deployment", "name": name}, "patch": json.dumps(ops)})
    return out


def _swap(arg: str, ports: dict[str, str]) -> str:
    arg = arg.replace("0.0.0.0", "$(POD_IP)")
    for old, new in ports.items():
        if arg == old or arg.endswith(f":{old}/healthz"):
            arg = arg.replace(old, new)
    return arg


def overlay(kube: Kube, ns: str, directory: Path) -> Path:
    repo, tag = IMAGE.rsplit(":", 1)
    kustomization: dict[str, Any] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": ns,
        "resources": [os.path.relpath(BASE, directory)],  # kustomize wants it relative
        "images": [{"name": "web4ai/orchestrator", "newName": repo, "newTag": tag}],
    }
    if kube.local:
        kustomization["patches"] = host_network_patches(kube)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    return directory


def test_kubectl_apply_k_runs_on_a_fresh_namespace(kube: Kube, tmp_path: Path) -> None:
    ns = f"w4k-{uuid.uuid4().hex[:8]}"
    kube.kubectl("create", "namespace", ns)
    key = "w4a_" + uuid.uuid4().hex
    kube.kubectl("create", "secret", "generic", "web4ai-admin-key", "-n", ns,
                 f"--from-literal=api-key={key}")  # fmt: skip
    svc = ServiceAccess(kube, ns, "web4ai-api", {"Authorization": f"Bearer {key}"})
    try:
        kube.kubectl("apply", "-k", str(overlay(kube, ns, tmp_path / "overlay")))

        def settled() -> list[dict[str, Any]] | None:
            pods = kube.pods(ns)
            return pods if len(pods) == 4 and all(ready(p) for p in pods) else None

        pods = eventually(settled, within=240)
        assert {p["metadata"]["labels"]["app.kubernetes.io/component"] for p in pods} == {
            "api",
            "operator",
        }
        assert svc.call("GET", "/health")["status"] == "healthy"
        assert svc.call("GET", "/config")["config"]["network"]["max_nodes"] == 100
        kube.kubectl("get", "web4ainodes", "-n", ns)  # the CRDs of the base are served
        svc.close()
        # the README's uninstall with the plain manifests: `web4ai uninstall` (then delete -k)
        subprocess.run(
            [sys.executable, "-m", "web4ai", "uninstall", "--namespace", ns,
             "--kubeconfig", kube.kubeconfig, "--timeout", "60"],
            check=True, timeout=300,
        )  # fmt: skip
        crs = kube.kubectl("get", "web4ainodes,web4aitasks,web4aiorchestrators", "-n", ns,
                           "-o", "name").split()  # fmt: skip
        run_time_made = "app.kubernetes.io/part-of=web4ai,!helm.sh/chart"
        made = kube.kubectl("get", "secrets,configmaps,leases", "-n", ns, "-o", "name",
                            "-l", run_time_made).split()  # fmt: skip
        assert not crs and not made, (crs, made)
        assert not kube.pods(ns)  # every Deployment scaled to zero
        kube.kubectl("delete", "namespace", ns, "--timeout=120s")  # no finalizer holds it
    except BaseException:
        print(diagnostics(kube, ns))
        raise
    finally:
        svc.close()
        kube.kubectl("delete", "namespace", ns, "--timeout=180s", check=False)
