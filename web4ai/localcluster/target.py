"""Which cluster to use: a fresh local control plane, or (explicitly) an existing one.

An existing cluster is used only when ``WEB4AI_USE_EXISTING_CLUSTER`` is
``1``/``true``; a KUBECONFIG in the environment alone never redirects the
tests or ``make run`` to a real cluster.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


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
