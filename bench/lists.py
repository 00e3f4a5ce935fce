"""What a task list costs the API server: the whole store against the unfinished tasks
alone (the field selector the operator lists first, ``UNFINISHED_TASKS``).

    python -m bench.lists [--tasks 30000] [--rounds 3]

On the local control plane, ``--tasks`` tasks as ``bench.retained`` makes them (1 KiB
inputs, 99 in 100 finished). Each round lists both ways in pages of 500, as the
operator's feed does, and prints the wall time, the bytes and the CPU seconds
kube-apiserver and etcd spent; at the end, the API server's own count of lists served
from its watch cache and from etcd.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

import aiohttp
import psutil

from bench import retained
from bench.scale import REPO
from devtools.localcluster.controlplane import ControlPlane
from web4ai.core.model import UNFINISHED_TASKS
from web4ai.core.resources import TASKS
from web4ai.k8s import crds
from web4ai.k8s.client import api_client


async def pages(session: aiohttp.ClientSession, url: str, selector: str | None) -> tuple[int, int]:
    """Every page of one list: (objects, bytes)."""
    token, objects, size = None, 0, 0
    while True:
        query = {"limit": "500"} | ({"continue": token} if token else {})
        query |= {"fieldSelector": selector} if selector else {}
        async with session.get(url, params=query) as r:
            raw = await r.read()
            if r.status != 200:
                raise RuntimeError(f"{r.status}: {raw[:300]!r}")
        size += len(raw)
        page = json.loads(raw)
        objects += len(page["items"])
        token = page["metadata"].get("continue")
        if not token:
            return objects, size


def cpu(procs: dict[str, psutil.Process]) -> dict[str, float]:
    return {name: sum(p.cpu_times()[:2]) for name, p in procs.items()}


async def run(args: argparse.Namespace) -> None:
    with ControlPlane() as plane:
        api = await api_client(str(plane.kubeconfig))
        await crds.install(api, REPO / "crds")
        store = argparse.Namespace(retained=args.tasks, concurrency=16, timeout=300)
        await retained.populate(plane, api, store)
        procs = {psutil.Process(p).name(): psutil.Process(p) for p in plane.pids}
        url = (
            f"{plane.server}/apis/{TASKS.group}/{TASKS.version}/namespaces/"
            f"{retained.NS}/{TASKS.plural}"
        )
        connector = aiohttp.TCPConnector(ssl=plane.ssl_context())
        async with aiohttp.ClientSession(connector=connector) as session:
            for _ in range(args.rounds):
                for label, selector in (("whole", None), ("unfinished", UNFINISHED_TASKS)):
                    before, started = cpu(procs), time.monotonic()
                    objects, size = await pages(session, url, selector)
                    took = time.monotonic() - started
                    spent = {k: v - before[k] for k, v in cpu(procs).items()}
                    print(
                        f"{label:10s} {objects:7d} tasks {size / 2**20:6.0f} MiB {took:6.2f} s; "
                        + ", ".join(f"{k} {v:.2f} s CPU" for k, v in spent.items()),
                        flush=True,
                    )
            async with session.get(f"{plane.server}/metrics") as r:
                metrics: Any = await r.text()
        for line in metrics.splitlines():
            if "list_total" in line and TASKS.plural in line:
                print(line)
        await api.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", type=int, default=30_000)
    p.add_argument("--rounds", type=int, default=3)
    asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    main()
