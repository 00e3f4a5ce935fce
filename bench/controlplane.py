"""Local control plane: start time (etcd + kube-apiserver until /readyz, and stop), and
with ``--writes N`` what one task status write costs kube-apiserver and etcd in CPU,
with no watcher and with two raw task watches open (the API's and the operator's): the
floor under any task, which costs at least three such writes (create, binding, result).

python -m bench.controlplane --starts 5
python -m bench.controlplane --starts 0 --writes 3000
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path

import aiohttp
from kubernetes_asyncio import client

from bench.common import bounded, cpu_seconds, task_body
from devtools.localcluster.controlplane import ControlPlane
from web4ai.core.resources import GROUP, TASKS, VERSION
from web4ai.k8s import crds as crds_mod
from web4ai.k8s.client import api_client

REPO = Path(__file__).resolve().parents[1]
OBJECTS = 16  # writes in flight, each on an object of its own (no conflict retries)


def starts(count: int) -> None:
    ups, downs = [], []
    for _ in range(count):
        t0 = time.perf_counter()
        plane = ControlPlane().start()
        ups.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        plane.stop()
        downs.append(time.perf_counter() - t0)
    print(
        f"start (to /readyz): median={statistics.median(ups):.2f}s "
        f"min={min(ups):.2f}s max={max(ups):.2f}s over {count}"
    )
    print(f"stop: median={statistics.median(downs):.2f}s")


async def watch(plane: ControlPlane, stop: asyncio.Event) -> int:
    """A raw watch of the tasks, read to the end as our processes read theirs."""
    url = f"{plane.server}/apis/{GROUP}/{VERSION}/namespaces/default/{TASKS.plural}"
    events = 0
    async with (
        aiohttp.ClientSession() as http,
        http.get(url, params={"watch": "1"}, ssl=plane.ssl_context(), timeout=None) as r,
    ):
        while not stop.is_set():
            try:
                line = await asyncio.wait_for(r.content.readline(), 0.5)
            except TimeoutError:
                continue
            events += bool(line.strip())
    return events


async def write_round(
    co: client.CustomObjectsApi, names: list[str], writes: int, pids: list[int]
) -> float:
    """CPU milliseconds of ``pids`` together per status merge-patch."""

    async def patch(i: int) -> None:
        await co.patch_namespaced_custom_object_status(
            GROUP,
            VERSION,
            "default",
            TASKS.plural,
            names[i % len(names)],
            {"status": {"errorMessage": f"write {i}"}},
            _content_type="application/merge-patch+json",
        )

    await bounded(OBJECTS, [patch(i) for i in range(2 * OBJECTS)])  # warm
    before = sum(cpu_seconds(p) for p in pids)
    await bounded(OBJECTS, [patch(i) for i in range(writes)])
    return 1000 * (sum(cpu_seconds(p) for p in pids) - before) / writes


async def writes(count: int, rounds: int) -> None:
    with ControlPlane() as plane:
        api = await api_client(str(plane.kubeconfig))
        await crds_mod.install(api, REPO / "crds")
        co = client.CustomObjectsApi(api)
        names = [f"floor-{i}" for i in range(OBJECTS)]
        for name in names:
            await co.create_namespaced_custom_object(
                GROUP, VERSION, "default", TASKS.plural, task_body(name)
            )
        etcd, apiserver = plane.pids[0], plane.pids[-1]
        costs: dict[str, list[tuple[float, float]]] = {"no watcher": [], "two watchers": []}
        for r in range(rounds):
            for label in ["no watcher", "two watchers"][:: 1 if r % 2 == 0 else -1]:
                stop = asyncio.Event()
                watchers = [
                    asyncio.create_task(watch(plane, stop))
                    for _ in range(2 if label == "two watchers" else 0)
                ]
                await asyncio.sleep(0.5)
                a = await write_round(co, names, count, [apiserver])
                e = await write_round(co, names, count, [etcd])
                stop.set()
                await asyncio.gather(*watchers)
                costs[label].append((a, e))
        await api.close()
    for label, pairs in costs.items():
        a = statistics.median(p[0] for p in pairs)
        e = statistics.median(p[1] for p in pairs)
        print(
            f"task status write, {label:12}: kube-apiserver {a:.2f} ms + etcd {e:.2f} ms "
            f"CPU (median of {rounds} rounds of {count}, {OBJECTS} in flight)",
            flush=True,
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--starts", type=int, default=5)
    p.add_argument("--writes", type=int, default=0, help="status writes per round")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    if args.starts:
        starts(args.starts)
    if args.writes:
        asyncio.run(writes(args.writes, args.rounds))


if __name__ == "__main__":
    main()
