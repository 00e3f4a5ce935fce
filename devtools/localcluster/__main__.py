"""``python -m devtools.localcluster``: a local control plane until Ctrl-C.

With ``WEB4AI_USE_EXISTING_CLUSTER=1`` it uses the cluster of KUBECONFIG instead.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from devtools.localcluster.target import open_cluster, resolve_target
from web4ai.k8s import crds as crds_mod


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.localcluster")
    parser.add_argument("--crds", type=Path, default=Path("crds"), help="CRD directory")
    args = parser.parse_args(argv)

    kubeconfig, plane = open_cluster(resolve_target())
    try:
        names = asyncio.run(crds_mod.install_with_kubeconfig(kubeconfig, args.crds))
        print(f"CRDs established: {', '.join(names)}", flush=True)
        print(f"export KUBECONFIG={kubeconfig}", flush=True)
        print("Ctrl-C stops everything.", flush=True)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        if plane is not None:
            plane.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
