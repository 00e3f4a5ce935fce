"""One scheduler pass at many nodes, in-process (the controllers' fake API server, no
I/O): the median time of ``Scheduler.run_once`` for one new task that only the
``--workers`` nodes can take, among ``--nodes`` others. A task causes about three
passes (created, bound, finished), so this times the scheduler's part of what
bench.scale's 10,000-node run reports as the operator's CPU per task. A pass looked at
every node until the node index (``web4ai.core.nodeindex``): 9.1 ms at 10,000 nodes
and 1.0 ms at 1,000, then 0.5 and 0.3 ms (README, Scaling).

    python -m bench.schedpass --nodes 10000 --workers 50 --passes 30
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from tests.unit.controllers.fakes import FakeCluster
from tests.unit.controllers.test_scheduler import one_pass, scheduler_for


async def main_async(nodes: int, workers: int, passes: int) -> None:
    cluster = FakeCluster()
    cluster.configure()
    for i in range(nodes):
        cluster.add_node(f"sim-{i}", agents=1)
    for i in range(workers):
        cluster.add_node(f"worker-{i}", agents=4, capabilities=["worker"])
    scheduler = scheduler_for(cluster)
    await one_pass(cluster, scheduler)
    times = []
    for k in range(passes):
        cluster.add_task(f"t{k}", requirements={"capabilities": ["worker"]})
        cluster.sync()
        started = time.perf_counter()
        await scheduler.run_once()
        times.append(time.perf_counter() - started)
        await scheduler.drain()
    print(
        f"{nodes} nodes + {workers} workers: one pass for one task, median "
        f"{1000 * statistics.median(times):.1f} ms over {passes} ({scheduler.bound} bound)"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--nodes", type=int, default=10000)
    p.add_argument("--workers", type=int, default=50)
    p.add_argument("--passes", type=int, default=30)
    args = p.parse_args()
    asyncio.run(main_async(args.nodes, args.workers, args.passes))


if __name__ == "__main__":
    main()
