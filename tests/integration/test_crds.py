"""The shipped CRDs on a real kube-apiserver: schema, defaults, validation,
status subresource and printer columns."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from tests.conftest import Cluster
from web4ai.k8s.crds import GROUP, VERSION

NODE = {
    "apiVersion": f"{GROUP}/{VERSION}",
    "kind": "Web4AINode",
    "metadata": {"name": "node-001", "labels": {"web4ai.io/node-id": "node-001"}},
    "spec": {"nodeId": "node-001", "host": "192.168.1.100"},
}
TASK = {
    "apiVersion": f"{GROUP}/{VERSION}",
    "kind": "Web4AITask",
    "metadata": {"name": "task-001", "labels": {"web4ai.io/task-id": "task-001"}},
    "spec": {
        "taskId": "task-001",
        "taskType": "ai_inference",
        "inputData": {"prompt": "Hello", "nested": {"any": ["thing", 1]}},
        "metadata": {"user_id": "user_123"},
    },
}
ORCH = {
    "apiVersion": f"{GROUP}/{VERSION}",
    "kind": "Web4AIOrchestrator",
    "metadata": {"name": "web4ai"},
    "spec": {},
}


def objects(api: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api)


async def create(api: client.ApiClient, ns: str, plural: str, body: dict[str, Any]) -> Any:
    return await objects(api).create_namespaced_custom_object(GROUP, VERSION, ns, plural, body)


MERGE = "application/merge-patch+json"


async def patch(
    api: client.ApiClient,
    ns: str,
    plural: str,
    name: str,
    body: dict[str, Any],
    *,
    status: bool = False,
) -> Any:
    co = objects(api)
    call = co.patch_namespaced_custom_object_status if status else co.patch_namespaced_custom_object
    return await call(GROUP, VERSION, ns, plural, name, body, _content_type=MERGE)


def with_spec(body: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {**body, "spec": {**body["spec"], **spec}}


async def test_crds_are_established_with_names_and_categories(api: client.ApiClient) -> None:
    ext = client.ApiextensionsV1Api(api)
    for plural, short in [
        ("web4ainodes", "w4n"),
        ("web4aitasks", "w4t"),
        ("web4aiorchestrators", "w4o"),
    ]:
        crd = await ext.read_custom_resource_definition(f"{plural}.{GROUP}")
        established = {c.type: c.status for c in crd.status.conditions}
        assert established["Established"] == "True"
        assert established["NamesAccepted"] == "True"
        assert short in crd.spec.names.short_names
        assert crd.spec.names.categories == ["web4ai"]
        assert crd.spec.versions[0].subresources.status is not None


async def test_valid_objects_are_stored_with_defaults(
    api: client.ApiClient, namespace: str
) -> None:
    node = await create(api, namespace, "web4ainodes", NODE)
    assert node["spec"]["port"] == 8090
    assert node["spec"]["nodeType"] == "generic"
    assert node["spec"]["capabilities"] == []
    assert node["spec"]["agentsCount"] == 1
    assert node["spec"]["version"] == "unknown"

    task = await create(api, namespace, "web4aitasks", TASK)
    assert task["spec"]["priority"] == 3
    assert task["spec"]["timeout"] == 300
    assert task["spec"]["maxRetries"] == 3
    assert task["spec"]["requirements"] == {}
    # free-form fields keep unknown content
    assert task["spec"]["inputData"] == {"prompt": "Hello", "nested": {"any": ["thing", 1]}}

    orch = await create(api, namespace, "web4aiorchestrators", ORCH)
    spec = orch["spec"]
    assert spec["paused"] is False
    assert spec["orchestrator"]["heartbeatInterval"] == 30
    assert spec["network"]["loadBalanceAlgorithm"] == "weighted_round_robin"
    assert spec["performance"] == {
        "monitoringEnabled": True,
        "optimizationEnabled": True,
        "cpuThreshold": 80,
        "memoryThreshold": 85,
        "targetResponseTimeMs": 150,
        "targetUtilization": 0.7,
    }

    read = await objects(api).get_namespaced_custom_object(
        GROUP, VERSION, namespace, "web4aitasks", "task-001"
    )
    assert read["spec"] == task["spec"]


@pytest.mark.parametrize(
    ("plural", "body", "field"),
    [
        ("web4aitasks", with_spec(TASK, priority=9), "spec.priority"),
        ("web4aitasks", with_spec(TASK, priority=0), "spec.priority"),
        ("web4aitasks", with_spec(TASK, taskType=""), "spec.taskType"),
        ("web4aitasks", with_spec(TASK, requirements={"minCpu": 101}), "spec.requirements.minCpu"),
        ("web4aitasks", with_spec(TASK, taskId="bad id"), "spec.taskId"),
        ("web4ainodes", with_spec(NODE, port=70000), "spec.port"),
        ("web4ainodes", with_spec(NODE, port=0), "spec.port"),
        (
            "web4aiorchestrators",
            with_spec(ORCH, network={"loadBalanceAlgorithm": "random"}),
            "spec.network.loadBalanceAlgorithm",
        ),
        (
            "web4aiorchestrators",
            with_spec(ORCH, performance={"cpuThreshold": 150}),
            "spec.performance.cpuThreshold",
        ),
    ],
)
async def test_invalid_objects_are_rejected_by_the_server(
    api: client.ApiClient, namespace: str, plural: str, body: dict[str, Any], field: str
) -> None:
    with pytest.raises(ApiException) as info:
        await create(api, namespace, plural, body)
    assert info.value.status == 422
    assert field in str(info.value.body)


async def test_unknown_status_is_rejected(api: client.ApiClient, namespace: str) -> None:
    await create(api, namespace, "web4ainodes", NODE)
    with pytest.raises(ApiException) as info:
        await patch(
            api,
            namespace,
            "web4ainodes",
            "node-001",
            {"status": {"status": "exploded"}},
            status=True,
        )
    assert info.value.status == 422
    assert "status.status" in str(info.value.body)

    await create(api, namespace, "web4aitasks", TASK)
    with pytest.raises(ApiException) as info:
        await patch(
            api,
            namespace,
            "web4aitasks",
            "task-001",
            {"status": {"status": "sleeping"}},
            status=True,
        )
    assert info.value.status == 422


async def test_status_changes_only_through_the_status_subresource(
    api: client.ApiClient, namespace: str
) -> None:
    await create(api, namespace, "web4ainodes", NODE)
    # A write to the main resource ignores status ...
    patched = await patch(
        api,
        namespace,
        "web4ainodes",
        "node-001",
        {"spec": {"location": "dc-1"}, "status": {"status": "active"}},
    )
    assert patched["spec"]["location"] == "dc-1"
    assert "status" not in patched
    # ... a write to the status subresource ignores spec.
    patched = await patch(
        api,
        namespace,
        "web4ainodes",
        "node-001",
        {"spec": {"location": "elsewhere"}, "status": {"status": "active", "cpuUsage": 12.5}},
        status=True,
    )
    assert patched["status"] == {"status": "active", "cpuUsage": 12.5}
    assert patched["spec"]["location"] == "dc-1"


async def test_task_spec_is_immutable(api: client.ApiClient, namespace: str) -> None:
    await create(api, namespace, "web4aitasks", TASK)
    with pytest.raises(ApiException) as info:
        await patch(api, namespace, "web4aitasks", "task-001", {"spec": {"priority": 1}})
    assert info.value.status == 422
    assert "immutable" in str(info.value.body)


def table(output: str) -> list[list[str]]:
    return [line.split() for line in output.strip().splitlines()]


async def test_kubectl_printer_columns(
    api: client.ApiClient, cluster: Cluster, namespace: str
) -> None:
    await create(api, namespace, "web4ainodes", with_spec(NODE, agentsCount=3))
    await patch(
        api,
        namespace,
        "web4ainodes",
        "node-001",
        {
            "status": {
                "status": "active",
                "loadScore": 0.52,
                "lastHeartbeat": "2026-01-01T00:00:00Z",
            }
        },
        status=True,
    )
    await create(api, namespace, "web4aitasks", with_spec(TASK, priority=2))
    await patch(
        api,
        namespace,
        "web4aitasks",
        "task-001",
        {"status": {"status": "active", "phase": "running", "nodeId": "node-001", "retryCount": 1}},
        status=True,
    )

    rows = table(cluster.kubectl("get", "web4ainodes", "-n", namespace).stdout)
    assert rows[0] == ["NAME", "STATUS", "HOST", "AGENTS", "LOAD", "LAST-HEARTBEAT", "AGE"]
    assert rows[1][:5] == ["node-001", "active", "192.168.1.100", "3", "0.52"]
    assert rows[1][5].endswith(("d", "y"))  # an age, e.g. "331d"

    rows = table(cluster.kubectl("get", "web4aitasks", "-n", namespace).stdout)
    assert rows[0] == ["NAME", "TYPE", "PRIORITY", "STATUS", "PHASE", "NODE", "RETRIES", "AGE"]
    assert rows[1][:7] == ["task-001", "ai_inference", "2", "active", "running", "node-001", "1"]

    # short names and the category
    assert "node-001" in cluster.kubectl("get", "w4n", "-n", namespace).stdout
    out = cluster.kubectl("get", "web4ai", "-n", namespace).stdout
    assert "web4ainode.web4ai.io/node-001" in out
    assert "web4aitask.web4ai.io/task-001" in out
