"""Local control plane start time: etcd + kube-apiserver until /readyz, and stop.

python -m bench.controlplane --starts 5
"""

from __future__ import annotations

import argparse
import statistics
import time

from devtools.localcluster.controlplane import ControlPlane


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--starts", type=int, default=5)
    args = p.parse_args()
    starts, stops = [], []
    for _ in range(args.starts):
        t0 = time.perf_counter()
        plane = ControlPlane().start()
        starts.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        plane.stop()
        stops.append(time.perf_counter() - t0)
    print(
        f"start (to /readyz): median={statistics.median(starts):.2f}s "
        f"min={min(starts):.2f}s max={max(starts):.2f}s over {args.starts}"
    )
    print(f"stop: median={statistics.median(stops):.2f}s")


if __name__ == "__main__":
    main()
