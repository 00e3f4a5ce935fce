"""Which cluster to use: a fresh local control plane, or (explicitly) an existing one.

An existing cluster is used only when ``WEB4AI_USE_EXISTING_CLUSTER`` is
``1``/``true``; a KUBECONFIG in the environment alone never redirects the
tests or ``make run`` to a real cluster.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from devtools.localcluster.controlplane import ControlPlane


@dataclass(frozen=True)
class ClusterTarget:
    kubeconfig: str | None  # None: start a local control plane


def resolve_target(environ: dict[str, str] | None = None) -> ClusterTarget:
    env = os.environ if environ is None else environ
    if env.get("WEB4AI_USE_EXISTING_CLUSTER", "").lower() not in ("1", "true", "yes"):
        return ClusterTarget(kubeconfig=None)
    path = env.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
    if not Path(path).is_file():
        raise SystemExit(
            f"WEB4AI_USE_EXISTING_CLUSTER is set but the kubeconfig {path} does not exist"
        )
    return ClusterTarget(kubeconfig=path)


def open_cluster(target: ClusterTarget) -> tuple[str, ControlPlane | None]:
    """The kubeconfig to use, starting a local control plane when the target asks for
    one (the caller stops it)."""
    if target.kubeconfig is not None:
        print(f"Using the cluster of {target.kubeconfig}", flush=True)
        return target.kubeconfig, None
    plane = ControlPlane().start()
    print(f"Local control plane: {plane.server}", flush=True)
    return str(plane.kubeconfig), plane
