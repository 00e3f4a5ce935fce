"""Client-side CPU per write: what one task status merge-patch costs the process that
sends it, through kubernetes_asyncio's generated client (as the Writer sent every write
before web4ai.k8s.rawhttp) and through the Writer (straight through the ApiClient's
session, and on kept-alive connections of its own: web4ai.k8s.keepalive), in one run,
on one local control plane, rounds alternating.

The patch is a binding (web4ai.core.patches.bind_patch, unguarded, its condition
message varied so every write changes the object); each answer is the whole task, as
the API server returns it. CPU is this process's own (time.process_time): the control
plane runs in processes of its own. The loop is the one our processes run on
(web4ai.eventloop: uvloop).

python -m bench.writes --writes 2000 --rounds 5
"""

from __future__ import annotations

import argparse
import copy
import gc
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

from kubernetes_asyncio import client

from bench.common import bounded, task_body
from devtools.localcluster.controlplane import ControlPlane
from web4ai import eventloop
from web4ai.core import patches
from web4ai.core.crs import TaskBody
from web4ai.core.resources import TASKS
from web4ai.k8s import crds as crds_mod
from web4ai.k8s.client import api_client
from web4ai.k8s.errors import typed
from web4ai.k8s.writing import MERGE, Writer

REPO = Path(__file__).resolve().parents[1]
OBJECTS = 8  # writes in flight, each on an object of its own (no conflicts)
NS = "default"

Patcher = Callable[[str, dict[str, Any]], Awaitable[Any]]


def generated(api: client.ApiClient) -> Patcher:
    """The status merge-patch as the Writer sent it before: the generated client."""
    co = client.CustomObjectsApi(api)

    async def patch(name: str, body: dict[str, Any]) -> Any:
        try:
            return await co.patch_namespaced_custom_object_status(
                TASKS.group, TASKS.version, NS, TASKS.plural, name, body, _content_type=MERGE
            )
        except client.exceptions.ApiException as exc:
            raise typed(exc) from exc

    return patch


def lean(api: client.ApiClient, writer: Writer | None = None) -> Patcher:
    """The Writer's status merge-patch (through the session, or ``writer``'s way)."""
    writer = writer or Writer(api, NS)

    async def patch(name: str, body: dict[str, Any]) -> Any:
        return await writer.patch(TASKS, name, body, status=True)

    return patch


async def cpu_per_write(send: Patcher, names: list[str], binding: dict[str, Any], n: int) -> float:
    """CPU milliseconds of this process per status write, over ``n`` writes."""

    def body(i: int) -> dict[str, Any]:
        out = copy.deepcopy(binding)
        out["status"]["conditions"][0]["message"] = f"write {i}"
        return out

    bodies = [body(i) for i in range(n)]
    await bounded(OBJECTS, [send(names[i % OBJECTS], body(i)) for i in range(2 * OBJECTS)])
    gc.collect()
    before = time.process_time()
    await bounded(OBJECTS, [send(names[i % OBJECTS], bodies[i]) for i in range(n)])
    return 1000 * (time.process_time() - before) / n


async def run(writes: int, rounds: int) -> dict[str, list[float]]:
    costs: dict[str, list[float]] = {
        "generated client": [],
        "Writer (raw)": [],
        "Writer (kept-alive)": [],
    }
    with ControlPlane() as plane:
        api = await api_client(str(plane.kubeconfig))
        try:
            await crds_mod.install(api, REPO / "crds")
            writer = Writer(api, NS)
            names = [f"w-{i}" for i in range(OBJECTS)]
            for name in names:
                await writer.create(TASKS, task_body(name))
            task = cast(TaskBody, await writer.read(TASKS, names[0]))
            binding = patches.bind_patch(task, "node-1", time.time())
            binding.pop("metadata", None)  # unguarded: every write lands
            kept = Writer.kept_alive(api, NS)
            senders = {
                "generated client": generated(api),
                "Writer (raw)": lean(api),
                "Writer (kept-alive)": lean(api, kept),
            }
            for r in range(rounds):
                for label in list(senders)[:: 1 if r % 2 == 0 else -1]:
                    costs[label].append(await cpu_per_write(senders[label], names, binding, writes))
            await kept.close()
        finally:
            await api.close()
    return costs


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--writes", type=int, default=2000, help="status writes per round")
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    costs = eventloop.run(run(args.writes, args.rounds))
    before = statistics.median(costs["generated client"])
    for label, values in costs.items():
        rounds = " ".join(f"{v:.3f}" for v in values)
        print(f"{label:19}: {statistics.median(values):.3f} ms CPU per write (rounds: {rounds})")
    for label in ("Writer (raw)", "Writer (kept-alive)"):
        after = statistics.median(costs[label])
        print(
            f"client CPU per task status write, {label}: {before:.3f} -> {after:.3f} ms "
            f"(x{after / before:.2f}), median of {args.rounds} rounds of {args.writes}, "
            f"{OBJECTS} in flight"
        )


if __name__ == "__main__":
    main()
