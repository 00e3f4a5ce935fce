"""``web4ai uninstall`` (the chart's pre-delete hook) against the real API server: with
no operator running, nothing waits forever on a finalizer; what the processes made at
run time goes, what the chart made stays. (With the operator and pods: tests/cluster.)"""

from __future__ import annotations

from typing import Any

from kubernetes_asyncio import client

from tests.integration.helpers import add_node, add_task, co, configure
from web4ai.core.objects import lease_object
from web4ai.core.resources import GROUP, NODES, ORCHESTRATORS, TASKS, VERSION
from web4ai.k8s.uninstalling import Uninstall

RUN_TIME = {"app.kubernetes.io/part-of": "web4ai"}
CHART = {**RUN_TIME, "helm.sh/chart": "web4ai-0.1.0"}


def deployment(name: str, component: str) -> dict[str, Any]:
    labels = {
        **CHART,
        "app.kubernetes.io/instance": "rel",
        "app.kubernetes.io/component": component,
    }
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "c", "image": "web4ai/orchestrator:dev"}]},
            },
        },
    }


async def test_uninstall_leaves_only_what_the_chart_made_and_never_hangs(
    api: client.ApiClient, namespace: str
) -> None:
    ns = namespace
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    coordination = client.CoordinationV1Api(api)
    # the orchestrator with Kopf's finalizer, nodes with the operator's, tasks; no
    # operator runs to remove them
    await configure(api, ns)
    await co(api).patch_namespaced_custom_object(
        GROUP, VERSION, ns, ORCHESTRATORS.plural, "web4ai",
        {"metadata": {"finalizers": ["kopf.zalando.org/KopfFinalizerMarker"]}},
        _content_type="application/merge-patch+json",
    )  # fmt: skip
    for i in range(3):
        await add_node(api, ns, f"node-{i}", lease=False)
        await coordination.create_namespaced_lease(  # as the API makes a node's Lease
            ns, lease_object(f"node-{i}-lease", {}, {"web4ai.io/node-id": f"node-{i}"})
        )
        await add_task(api, ns, f"task-{i}")
    for component in ("api", "node", "operator"):
        await apps.create_namespaced_deployment(ns, deployment(f"web4ai-{component}", component))
    await core.create_namespaced_secret(
        ns, {"metadata": {"name": "web4ai-api-keys", "labels": RUN_TIME}}
    )
    await core.create_namespaced_secret(
        ns, {"metadata": {"name": "web4ai-admin-key", "labels": CHART}}
    )
    await core.create_namespaced_config_map(
        ns, {"metadata": {"name": "user-settings"}, "data": {"a": "b"}}
    )
    await coordination.create_namespaced_lease(ns, lease_object("web4ai-operator", {}))

    await Uninstall(api, ns, "app.kubernetes.io/instance=rel", timeout=2, poll=0.2).run()

    for resource in (TASKS, NODES, ORCHESTRATORS):
        left = await co(api).list_namespaced_custom_object(GROUP, VERSION, ns, resource.plural)
        assert left["items"] == [], resource.plural
    scales = {d.metadata.name: d.spec.replicas for d in
              (await apps.list_namespaced_deployment(ns)).items}  # fmt: skip
    assert scales == {"web4ai-api": 0, "web4ai-node": 0, "web4ai-operator": 0}
    secrets = {s.metadata.name for s in (await core.list_namespaced_secret(ns)).items}
    assert secrets == {"web4ai-admin-key"}  # the chart's, kept; the run-time key Secret gone
    maps = {m.metadata.name for m in (await core.list_namespaced_config_map(ns)).items}
    assert "user-settings" in maps  # not ours: never touched
    assert (await coordination.list_namespaced_lease(ns)).items == []


async def test_uninstall_of_an_empty_namespace_is_a_no_op(
    api: client.ApiClient, namespace: str
) -> None:
    await Uninstall(api, namespace, timeout=2, poll=0.2).run()
