"""Scheduling rules with the operator running against the real control plane."""

from __future__ import annotations

import asyncio

from kubernetes_asyncio import client

from tests.integration.helpers import (
    OperatorProcess,
    add_node,
    add_task,
    configure,
    eventually,
    finish,
    set_node,
    task_status,
)


async def assigned_to(api: client.ApiClient, ns: str, task_id: str) -> str | None:
    status = await task_status(api, ns, task_id)
    return status.get("nodeId") if status.get("phase") == "assigned" else None


async def test_priority_order_with_a_single_free_slot(
    api: client.ApiClient, namespace: str, operator: OperatorProcess
) -> None:
    await configure(api, namespace, paused=True)
    await add_node(api, namespace, "solo", agents=1)
    await add_task(api, namespace, "low", priority=5)
    await add_task(api, namespace, "normal", priority=3)
    await add_task(api, namespace, "critical", priority=1)
    await configure(api, namespace, paused=False)
    assert await eventually(lambda: assigned_to(api, namespace, "critical")) == "solo"
    await finish(api, namespace, "critical")
    assert await eventually(lambda: assigned_to(api, namespace, "normal")) == "solo"
    assert (await task_status(api, namespace, "low"))["status"] == "pending"
    await finish(api, namespace, "normal")
    assert await eventually(lambda: assigned_to(api, namespace, "low")) == "solo"


async def test_capabilities_exclude_and_preferred(
    api: client.ApiClient, namespace: str, operator: OperatorProcess
) -> None:
    await configure(api, namespace)
    await add_node(api, namespace, "gpu-1", capabilities=["gpu_processing"], agents=4)
    await add_node(api, namespace, "cpu-1", capabilities=["data_processing"], agents=4)
    await add_node(api, namespace, "cpu-2", capabilities=["data_processing"], agents=4)
    await add_task(api, namespace, "needs-gpu", requirements={"capabilities": ["gpu_processing"]})
    await add_task(
        api,
        namespace,
        "not-cpu-1",
        requirements={"capabilities": ["data_processing"], "excludeNodes": ["cpu-1"]},
    )
    await add_task(api, namespace, "likes-cpu-1", requirements={"preferredNodes": ["cpu-1"]})
    await add_task(api, namespace, "impossible", requirements={"capabilities": ["quantum"]})
    assert await eventually(lambda: assigned_to(api, namespace, "needs-gpu")) == "gpu-1"
    assert await eventually(lambda: assigned_to(api, namespace, "not-cpu-1")) == "cpu-2"
    assert await eventually(lambda: assigned_to(api, namespace, "likes-cpu-1")) == "cpu-1"

    async def explained() -> str | None:
        status = await task_status(api, namespace, "impossible")
        for c in status.get("conditions") or []:
            if c["type"] == "Scheduled" and c["status"] == "False":
                return str(c["message"])
        return None

    message = await eventually(explained)
    assert message == "0/3 nodes fit: 3 missing capabilities quantum"
    assert (await task_status(api, namespace, "impossible"))["status"] == "pending"


async def test_maintenance_gets_nothing_until_active_again(
    api: client.ApiClient, namespace: str, operator: OperatorProcess
) -> None:
    await configure(api, namespace)
    await add_node(api, namespace, "m-1", status="maintenance", agents=2)
    await add_task(api, namespace, "waits")

    async def unschedulable() -> bool:
        status = await task_status(api, namespace, "waits")
        return any(
            c["type"] == "Scheduled" and c["status"] == "False"
            for c in status.get("conditions") or []
        )

    await eventually(unschedulable)
    assert (await task_status(api, namespace, "waits"))["status"] == "pending"
    await set_node(api, namespace, "m-1", status="active")
    assert await eventually(lambda: assigned_to(api, namespace, "waits")) == "m-1"


async def test_a_change_of_algorithm_applies_to_the_next_decision(
    api: client.ApiClient, namespace: str, operator: OperatorProcess
) -> None:
    await configure(api, namespace, network={"loadBalanceAlgorithm": "latency_optimized"})
    await add_node(api, namespace, "near", agents=10, networkLatency=1.0, cpuUsage=70.0)
    await add_node(api, namespace, "roomy", agents=10, networkLatency=50.0, cpuUsage=5.0)
    await add_task(api, namespace, "first")
    assert await eventually(lambda: assigned_to(api, namespace, "first")) == "near"
    await configure(api, namespace, network={"loadBalanceAlgorithm": "resource_aware"})
    await asyncio.sleep(1)  # the operator's watch delivers the new config
    await add_task(api, namespace, "second")
    assert await eventually(lambda: assigned_to(api, namespace, "second")) == "roomy"
