"""``helm install`` for real: the chart's pods from the image built from the Dockerfile,
on a cluster that runs them (``make cluster-test``; ``make kind-e2e`` against kind).

The tests run in file order on one release: install, look, use, upgrade, fail over,
uninstall.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.cluster.conftest import chart_values, write_values
from tests.cluster.kube import (
    CHART,
    HostNode,
    Kube,
    ServiceAccess,
    eventually,
    ready,
    uninstall,
)

COMPONENTS = {"operator": 2, "api": 2, "node": 1}


def admin_key(kube: Kube, ns: str) -> str:
    data = kube.kubectl(
        "get", "secret", "web4ai-admin-key", "-n", ns, "-o", "jsonpath={.data.api-key}"
    )
    return base64.b64decode(data).decode()


@pytest.fixture(scope="module")
def access(kube: Kube, release: dict[str, Any]) -> Iterator[ServiceAccess]:
    ns = release["ns"]
    headers = {"Authorization": f"Bearer {admin_key(kube, ns)}"}
    svc = ServiceAccess(kube, ns, "web4ai-api", headers)
    try:
        yield svc
    finally:
        svc.close()


@pytest.fixture(scope="module")
def host_node(kube: Kube, release: dict[str, Any], access: ServiceAccess) -> Iterator[HostNode]:
    """A reference node on the host, with a node key of its own (the README's recipe)."""
    ns, node_id = release["ns"], f"host-{uuid.uuid4().hex[:6]}"
    key = "w4a_" + uuid.uuid4().hex
    entry = {"sha256": hashlib.sha256(key.encode()).hexdigest(), "role": "node",
             "node_id": node_id}  # fmt: skip
    data = base64.b64encode(json.dumps(entry).encode()).decode()
    if kube.kubectl("get", "secret", "web4ai-api-keys", "-n", ns, check=False).strip():
        kube.kubectl("patch", "secret", "web4ai-api-keys", "-n", ns,
                     "-p", json.dumps({"data": {node_id: data}}))  # fmt: skip
    else:
        kube.kubectl("create", "secret", "generic", "web4ai-api-keys", "-n", ns,
                     f"--from-literal={node_id}={json.dumps(entry)}")  # fmt: skip
    # on the local cluster a process on the host reaches the API on the host network
    port = release["values"].get("service", {}).get("port")
    url = f"http://127.0.0.1:{port}/api/v1" if kube.local else access.base()
    node = HostNode(node_id, url, key, "test_task,host_process",
                    release["work"] / "host-node.log")  # fmt: skip
    try:
        yield node
    finally:
        node.stop()
        print(Path(node.log).read_text()[-3000:])


def operator_leader(kube: Kube, ns: str) -> str | None:
    """The operator pod that holds the leader Lease (its identity starts with the pod's name)."""
    lease = kube.json("lease", "web4ai-operator", "-n", ns)
    holder = lease["spec"].get("holderIdentity") or ""
    names = [p["metadata"]["name"] for p in kube.pods(ns, "operator")]
    leaders = [n for n in names if holder.startswith(n + "-")]
    return leaders[0] if len(leaders) == 1 else None


def all_ready(pods: list[dict[str, Any]], count: int) -> list[dict[str, Any]] | None:
    return pods if len(pods) == count and all(ready(p) for p in pods) else None


def test_every_pod_is_ready_and_answers_its_probes(kube: Kube, release: dict[str, Any]) -> None:
    ns = release["ns"]
    for component, count in COMPONENTS.items():
        # helm's --wait is content with replicas - maxUnavailable: every pod, within a bound
        def settled(c: str = component, n: int = count) -> list[dict[str, Any]] | None:
            return all_ready(kube.pods(ns, c), n)

        pods = eventually(settled, within=180)
        if release["values"].get("hostNetwork"):  # one replica per node address
            assert len({p["status"]["podIP"] for p in pods}) == count
    for pod in kube.pods(ns, "operator") + kube.pods(ns, "api"):
        container = pod["spec"]["containers"][0]
        ports = {p["name"]: p["containerPort"] for p in container.get("ports") or []}
        probes = [container["readinessProbe"], container["livenessProbe"]]
        for probe in probes:
            ip = pod["status"]["podIP"]
            if "httpGet" in probe:
                port = ports.get(probe["httpGet"]["port"], probe["httpGet"]["port"])
                url = f"http://{ip}:{port}{probe['httpGet']['path']}"
                code = f"import urllib.request as u; print(u.urlopen({url!r}, timeout=5).status)"
            else:
                port = ports.get(probe["tcpSocket"]["port"], probe["tcpSocket"]["port"])
                code = f"import socket; socket.create_connection(({ip!r}, {port}), 5); print(200)"
            assert kube.exec_python(ns, pod["metadata"]["name"], code).strip() == "200"


def test_the_operator_elects_one_leader(kube: Kube, release: dict[str, Any]) -> None:
    assert eventually(lambda: operator_leader(kube, release["ns"]), within=60)


def test_the_api_serves_through_its_service(
    kube: Kube, release: dict[str, Any], access: ServiceAccess
) -> None:
    assert access.call("GET", "/health")["status"] == "healthy"  # kubectl port-forward svc/...
    if kube.local:  # and every replica on its node's address (the host network, loopback)
        port = release["values"]["service"]["port"]
        for pod in kube.pods(release["ns"], "api"):
            url = f"http://{pod['status']['podIP']}:{port}/api/v1/health"
            assert requests.get(url, timeout=10).status_code == 200


def test_a_host_node_with_a_node_key_completes_a_task(
    access: ServiceAccess, host_node: HostNode
) -> None:
    [task] = access.wait_done(access.submit("host_process"))
    assert task["status"] == "completed" and task["node_id"] == host_node.node_id, task


def test_the_in_cluster_node_deployment_completes_tasks(
    kube: Kube, release: dict[str, Any], access: ServiceAccess
) -> None:
    [pod] = kube.pods(release["ns"], "node")
    tasks = access.wait_done(access.submit("in_cluster", 3))
    assert {(t["status"], t["node_id"]) for t in tasks} == {("completed", pod["metadata"]["name"])}


def test_kubectl_get_web4ainodes_shows_the_nodes(
    kube: Kube, release: dict[str, Any], host_node: HostNode
) -> None:
    [pod] = kube.pods(release["ns"], "node")
    out = kube.kubectl("get", "web4ainodes", "-n", release["ns"])
    assert host_node.node_id in out and pod["metadata"]["name"] in out, out


def test_the_dashboard_loads_through_the_service(access: ServiceAccess) -> None:
    root = access.base().removesuffix("/api/v1")
    page = requests.get(root + "/", timeout=10)
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    assets = re.findall(r'(?:src|href)="/?(dashboard/[^"]+)"', page.text)
    assert any(".js" in a for a in assets) and any(".css" in a for a in assets), page.text
    for asset in assets:
        assert requests.get(f"{root}/{asset}", timeout=10).status_code == 200, asset


SECURITY_PROBE = """
import errno, os
try:
    open('/probe', 'w')
    rootfs = 'writable'
except OSError as exc:
    rootfs = errno.errorcode[exc.errno]
status = dict(l.split(':', 1) for l in open('/proc/self/status').read().splitlines())
print(os.getuid(), os.getgid(), rootfs,
      *(int(status[k].strip(), 16) for k in ('CapPrm', 'CapEff', 'CapBnd', 'CapAmb')),
      status['NoNewPrivs'].strip())
"""


def test_pods_run_non_root_on_a_read_only_root_without_capabilities(
    kube: Kube, release: dict[str, Any]
) -> None:
    ns = release["ns"]
    for pod in kube.pods(ns):
        out = kube.exec_python(ns, pod["metadata"]["name"], SECURITY_PROBE).split()
        # uid/gid 10001, EROFS, no capability in any set, no privilege escalation
        assert out == ["10001", "10001", "EROFS", "0", "0", "0", "0", "1"], (pod, out)


def test_helm_upgrade_rolls_the_pods_without_losing_a_task_and_keeps_config(
    kube: Kube, release: dict[str, Any], access: ServiceAccess, host_node: HostNode
) -> None:
    ns = release["ns"]
    access.call("PUT", "/config", {"network": {"max_nodes": 77}})
    before = {p["metadata"]["name"] for p in kube.pods(ns)}
    # in flight when the roll starts (each runs 2 s on a node), and more while it goes on
    submitted: list[str] = [
        access.call("POST", "/tasks", {"task_id": f"inflight-{i}", "task_type": "test_task",
                                       "input_data": {"sleep_seconds": 2}})["task_id"]
        for i in range(6)
    ]  # fmt: skip
    stop = threading.Event()

    def keep_submitting() -> None:  # tasks for whichever node, while the pods roll
        i = 0
        while not stop.is_set():
            task_id = f"roll-{i}"
            try:
                access.call("POST", "/tasks", {"task_id": task_id, "task_type": "test_task"})
                submitted.append(task_id)
                i += 1
            except (AssertionError, requests.RequestException):
                if task_exists(access, task_id):  # accepted, the answer was lost
                    submitted.append(task_id)
                    i += 1
            stop.wait(1.0)

    worker = threading.Thread(target=keep_submitting)
    worker.start()
    try:
        values = chart_values(kube) | {
            k: v for k, v in release["values"].items() if k in ("service", "metrics")
        }
        values["operator"]["healthPort"] = release["values"]["operator"].get("healthPort", 8080)
        values["nodes"]["apiUrl"] = release["values"]["nodes"].get("apiUrl", "")
        values["discovery"] = release["values"].get("discovery", {})
        values["logFormat"] = "text"  # the changed value
        release["values"] = values
        upgrade = write_values(release["work"] / "upgrade.yaml", values)
        kube.helm("upgrade", "web4ai", str(CHART), "-n", ns, "-f", str(upgrade),
                  "--wait", "--timeout", "8m")  # fmt: skip

        # helm's --wait is content with replicas - maxUnavailable (it may return within
        # seconds): submitting goes on until every pod is new and Ready, within a bound
        def rolled() -> list[dict[str, Any]] | None:
            pods = all_ready(kube.pods(ns), sum(COMPONENTS.values()))
            return pods if pods and not before & {p["metadata"]["name"] for p in pods} else None

        after = eventually(rolled, within=180)
    finally:
        stop.set()
        worker.join()
    assert not before & {p["metadata"]["name"] for p in after}, "every pod was replaced"
    # some were submitted while the pods rolled (how many depends on the machine: the
    # port-forward follows the Service from a replaced pod to a new one)
    assert any(t.startswith("roll-") for t in submitted), submitted
    tasks = access.wait_done(submitted, within=300)
    assert [t["status"] for t in tasks] == ["completed"] * len(submitted)
    config = access.call("GET", "/config")["config"]
    assert config["network"]["max_nodes"] == 77, config


def task_exists(access: ServiceAccess, task_id: str) -> bool:
    try:
        access.call("GET", f"/tasks/{task_id}")
        return True
    except (AssertionError, requests.RequestException):
        return False


def test_deleting_the_leader_pod_hands_over_to_the_other_replica(
    kube: Kube, release: dict[str, Any], access: ServiceAccess
) -> None:
    ns = release["ns"]
    leader = eventually(lambda: operator_leader(kube, ns), within=60)
    [other] = [p["metadata"]["name"] for p in kube.pods(ns, "operator")
               if p["metadata"]["name"] != leader]  # fmt: skip
    kube.kubectl("delete", "pod", leader, "-n", ns, "--wait=false")

    def handed_over() -> bool:
        # the standby, not the deleted pod's replacement (which starts at the same time)
        now = operator_leader(kube, ns)
        holder = kube.json("lease", "web4ai-operator", "-n", ns)["spec"].get("holderIdentity")
        assert now == other, f"leader {now!r} (lease holder {holder!r}), expected {other!r}"
        return True

    assert eventually(handed_over, within=90)
    tasks = access.wait_done(access.submit("in_cluster", 2) + access.submit("test_task", 2))
    assert [t["status"] for t in tasks] == ["completed"] * 4


# What a namespace holds by itself, whatever is installed in it; and what the chart
# marks helm.sh/resource-policy: keep (the admin key, kept across upgrades, and the
# Web4AIOrchestrator, deleted by the procedure below).
NAMESPACE_OWN = {"configmap/kube-root-ca.crt", "serviceaccount/default"}
KEPT_BY_HELM = {"secret/web4ai-admin-key"}


def namespace_contents(kube: Kube, ns: str) -> set[str]:
    kinds = kube.kubectl("api-resources", "--verbs=list", "--namespaced", "-o", "name").split()
    kinds = [k for k in kinds if not k.startswith("events") and k != "endpoints"]
    names = kube.kubectl("get", ",".join(kinds), "-n", ns, "-o", "name").split()
    return {kind.split(".")[0] + "/" + name for kind, name in (n.split("/", 1) for n in names)}


def test_helm_uninstall_leaves_only_the_crds(
    kube: Kube, release: dict[str, Any], host_node: HostNode
) -> None:
    ns = release["ns"]
    # the outside node keeps running: the hook stops the API first, so it cannot register
    # again, and its Web4AINode and Lease go like the rest
    assert host_node.proc.poll() is None
    uninstall(kube, ns)

    def only_kept() -> set[str]:  # pods and the like go within a bound
        left = namespace_contents(kube, ns)
        assert left <= NAMESPACE_OWN | KEPT_BY_HELM, left - NAMESPACE_OWN - KEPT_BY_HELM
        return left

    assert eventually(only_kept, within=120) >= KEPT_BY_HELM  # the admin key is kept

    crds = kube.kubectl("get", "crd", "-o", "name")
    for crd in ("web4ainodes", "web4aitasks", "web4aiorchestrators"):
        assert f"{crd}.web4ai.io" in crds
    # nothing waits on a finalizer: the namespace goes
    kube.kubectl("delete", "namespace", ns, "--timeout=120s")
