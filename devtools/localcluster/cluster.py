"""A local Kubernetes cluster that runs pods: the control plane of ``ControlPlane``
(etcd, kube-apiserver) plus kube-controller-manager, kube-scheduler and one or more
nodes (containerd + kubelet each, see ``node.py``), all on loopback.

Everything lives in one directory under the cache (``<cache>/cluster/web4ai-cp-...``);
nothing is written to the machine's configuration and no system service is
installed. Pods use the host network (the runtime's network is a loopback-only CNI
config); they reach the API server on 127.0.0.1 when KUBERNETES_SERVICE_HOST/PORT
point there (``Cluster.in_cluster_env``). ``stop`` stops every process it started by
its PID, kills every container, unmounts, removes its cgroups and what appeared
under the kubelet's and containerd's fixed paths.

    python -m devtools.localcluster.cluster --nodes 1      (`make cluster`)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import ssl
import sys
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from devtools.localcluster import hostclean
from devtools.localcluster.binaries import DEFAULT_CACHE, binary
from devtools.localcluster.controlplane import ControlPlane
from devtools.localcluster.node import Node
from devtools.localcluster.ports import free_port


def repo_tags(archive: Path) -> list[str]:
    """The image names a docker-archive carries (its manifest.json's RepoTags)."""
    with tarfile.open(archive) as tar:
        member = tar.extractfile("manifest.json")
        assert member is not None, f"{archive} is not a docker-archive"
        manifest = json.load(member)
    return [tag for entry in manifest for tag in entry.get("RepoTags") or []]


def cache_dir(environ: dict[str, str] | None = None) -> Path:
    import os

    env = os.environ if environ is None else environ
    return Path(env.get("WEB4AI_TOOLS_DIR", str(DEFAULT_CACHE)))


@dataclass
class Cluster:
    """``nodes`` nodes named 127.0.0.1, 127.0.0.2, ...; ``images`` (docker-archives) are
    imported into every node's containerd, ``sandbox`` is the pod sandbox image."""

    sandbox: Path
    images: list[Path] = field(default_factory=list)
    nodes: int = 1
    environ: dict[str, str] | None = None
    plane: ControlPlane = field(init=False)
    members: list[Node] = field(init=False, default_factory=list)
    _fixed: hostclean.FixedPathSnapshot = field(init=False)

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def kubeconfig(self) -> Path:
        return self.plane.kubeconfig

    @property
    def in_cluster_env(self) -> dict[str, str]:
        """What a host-network pod needs to reach the API server with no kube-proxy."""
        host, port = self.plane.server.removeprefix("https://").rsplit(":", 1)
        return {"KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": port}

    def start(self) -> Cluster:
        self._fixed = hostclean.FixedPathSnapshot().take()
        parent = cache_dir(self.environ) / "cluster"
        parent.mkdir(parents=True, exist_ok=True)
        self.plane = ControlPlane(self.environ, node_auth=True, parent=parent)
        try:
            self.plane.start()
            self._start_controllers()
            sandbox_image = repo_tags(self.sandbox)[0]
            for index in range(1, self.nodes + 1):
                node = Node(self.plane, index, sandbox_image, [self.sandbox, *self.images])
                self.members.append(node)
                node.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for node in reversed(self.members):
            node.stop()
        self.members.clear()
        self.plane.stop()
        self._fixed.restore()

    def _start_controllers(self) -> None:
        p, kc = self.plane.pki, str(self.plane.kubeconfig)
        common = [
            f"--kubeconfig={kc}",
            f"--authentication-kubeconfig={kc}",
            f"--authorization-kubeconfig={kc}",
            "--bind-address=127.0.0.1",
            "--leader-elect=false",
        ]
        cm_port, sched_port = free_port(), free_port()
        cm = self.plane.spawn(
            "kube-controller-manager",
            [
                str(binary("kube-controller-manager", self.environ)),
                *common,
                f"--secure-port={cm_port}",
                f"--cert-dir={self.plane.workdir / 'cm-certs'}",
                f"--service-account-private-key-file={p.sa_private}",
                f"--root-ca-file={p.ca_cert}",
                "--use-service-account-credentials=true",
                f"--cluster-signing-cert-file={p.ca_cert}",
                f"--cluster-signing-key-file={p.ca_key}",
                "--controllers=*,-nodeipam,-service-lb-controller,-cloud-node-lifecycle",
            ],
        )
        self.plane.wait_for(cm, lambda: _healthy(cm_port))
        sched = self.plane.spawn(
            "kube-scheduler",
            [
                str(binary("kube-scheduler", self.environ)),
                *common,
                f"--secure-port={sched_port}",
                f"--cert-dir={self.plane.workdir / 'sched-certs'}",
            ],
        )
        self.plane.wait_for(sched, lambda: _healthy(sched_port))


def _healthy(port: int) -> bool:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # its own self-signed serving certificate, on loopback
    try:
        with urllib.request.urlopen(f"https://127.0.0.1:{port}/healthz", timeout=2, context=ctx):
            return True
    except (OSError, urllib.error.URLError):
        return False


def main(argv: list[str] | None = None) -> int:
    images = cache_dir() / "images"
    p = argparse.ArgumentParser(prog="make cluster", description=__doc__)
    p.add_argument("--nodes", type=int, default=1)
    p.add_argument("--image", type=Path, action="append", help="docker-archive to import")
    p.add_argument("--sandbox", type=Path, default=images / "web4ai-pause.tar")
    args = p.parse_args(argv)
    default = images / "web4ai-orchestrator.tar"
    archives = args.image if args.image else [default] if default.exists() else []
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with Cluster(args.sandbox, archives, args.nodes) as cluster:
        env = " ".join(f"{k}={v}" for k, v in cluster.in_cluster_env.items())
        print(
            f"""
Nodes Ready: {", ".join(n.name for n in cluster.members)} (host-network pods only)
Images: {", ".join(t for a in archives for t in repo_tags(a)) or "none"}
  export KUBECONFIG={cluster.kubeconfig}
  In-cluster clients in host-network pods need: {env}
Logs: {cluster.plane.workdir}/*.log
Ctrl-C stops everything.""",
            flush=True,
        )
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
