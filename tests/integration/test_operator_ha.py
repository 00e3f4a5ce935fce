"""Two operator replicas: one schedules; killing it hands over with nothing lost or
bound twice, checked against every task's full history from a watch."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client, watch

from tests.conftest import Cluster
from tests.integration.helpers import OperatorProcess, add_node, add_task, co, configure, eventually
from web4ai.core.resources import GROUP, TASKS, VERSION

pytestmark = pytest.mark.timeout(240)  # waits up to 120 s for every task to be bound

TASK_COUNT = 500 + 1  # and the probe task that shows the recorder is watching


async def leader_of(api: client.ApiClient, ns: str) -> str | None:
    try:
        lease = await co(api).get_namespaced_custom_object(
            "coordination.k8s.io", "v1", ns, "leases", "web4ai-operator"
        )
    except client.exceptions.ApiException:
        return None
    holder = lease["spec"].get("holderIdentity")
    return str(holder) if holder else None


async def test_killing_the_leader_mid_stream_loses_nothing_and_binds_nothing_twice(
    api: client.ApiClient, cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    await configure(api, namespace, paused=True)
    for i in range(10):
        await add_node(api, namespace, f"ha-{i}", agents=60)
    replicas = [
        OperatorProcess(cluster.kubeconfig, namespace, tmp_path / f"op-{i}.log") for i in range(2)
    ]
    history: dict[str, list[tuple[str, str | None]]] = defaultdict(list)

    watching = asyncio.Event()
    listed = asyncio.Event()

    async def record() -> None:
        """Every version of every task, resuming from the last resourceVersion seen."""
        rv = (await co(api).list_namespaced_custom_object(GROUP, VERSION, namespace, TASKS.plural))[
            "metadata"
        ]["resourceVersion"]
        listed.set()
        while True:
            w = watch.Watch()
            try:
                async for event in w.stream(
                    co(api).list_namespaced_custom_object,
                    GROUP,
                    VERSION,
                    namespace,
                    TASKS.plural,
                    resource_version=rv,
                    timeout_seconds=300,
                ):
                    watching.set()
                    obj = event["object"]
                    rv = obj["metadata"]["resourceVersion"]
                    status = obj.get("status") or {}
                    entry = (status.get("phase", "queued"), status.get("nodeId"))
                    seen = history[obj["metadata"]["name"]]
                    if not seen or seen[-1] != entry:
                        seen.append(entry)
            except client.exceptions.ApiException as exc:
                assert exc.status == 429, exc  # the watch cache is still starting
                await asyncio.sleep(0.2)
            finally:
                await w.close()

    recorder = asyncio.create_task(record())
    await asyncio.wait_for(listed.wait(), timeout=30)
    await add_task(api, namespace, "ha-probe")
    await asyncio.wait_for(watching.wait(), timeout=30)
    try:
        holder = await eventually(lambda: leader_of(api, namespace), within=30)
        assert holder is not None
        # Submit while scheduling is live, and kill the leader after ~100 bindings.
        await configure(api, namespace, paused=False)
        for i in range(TASK_COUNT - 1):
            await add_task(api, namespace, f"ha-task-{i:03d}")
            if i == 150:
                bound = sum(1 for h in history.values() if h[-1][0] == "assigned")
                assert bound > 0, "the leader should be binding by now"
                leader = next(r for r in replicas if f"-{r.proc.pid}-" in holder)
                leader.stop(signal.SIGKILL)

        async def all_bound() -> bool:
            return len(history) == TASK_COUNT and all(
                h[-1][0] == "assigned" for h in history.values()
            )

        await eventually(all_bound, within=120)
        new_holder = await leader_of(api, namespace)
        assert new_holder and new_holder != holder
        await asyncio.sleep(2)  # anything late would show up as a second binding now
    finally:
        for r in replicas:
            r.stop()
        recorder.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await recorder

    assert len(history) == TASK_COUNT
    for name, transitions in history.items():
        assigned = [t for t in transitions if t[0] == "assigned"]
        assert len(assigned) == 1, (name, transitions)
    objs: dict[str, Any] = await co(api).list_namespaced_custom_object(
        GROUP, VERSION, namespace, TASKS.plural
    )
    for obj in objs["items"]:
        assert len(obj["status"]["attempts"]) == 1, obj["metadata"]["name"]
    per_node: dict[str, int] = defaultdict(int)
    for obj in objs["items"]:
        per_node[obj["status"]["nodeId"]] += 1
    assert max(per_node.values()) <= 60  # capacity held across the handover
