"""One node of the local cluster: its own containerd (runc, a loopback-only CNI config)
and a kubelet, on a loopback address of its own (127.0.0.<index>), which is the node's
name and InternalIP, so host-network pods of two nodes can bind the same port.

Everything lives in the node's directory under the cluster's: containerd's root, state,
socket and runc root, the kubelet's root dir, certificates and pod logs. The kubelet's
cgroups live under a cgroup of the node's own (its cgroupRoot). ``stop`` kills every
container, stops both processes, and removes what they mounted and the cgroups.
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from devtools.localcluster import hostclean, pki
from devtools.localcluster.binaries import binary
from devtools.localcluster.controlplane import (
    ControlPlane,
    ControlPlaneError,
    Process,
    write_kubeconfig,
)
from devtools.localcluster.ports import free_port

CNI_BIN_DIR = "/usr/lib/cni"  # Debian's containernetworking-plugins
LOOPBACK_CNI = {"cniVersion": "0.4.0", "name": "lo", "plugins": [{"type": "loopback"}]}


def containerd_config(directory: Path, ip: str, stream_port: int, sandbox_image: str) -> str:
    """containerd 1.6's config (version 2): all of its paths under ``directory``."""
    d = directory
    return f"""version = 2
root = "{d / "root"}"
state = "{d / "state"}"
[grpc]
  address = "{d / "containerd.sock"}"
[ttrpc]
  address = "{d / "containerd.sock.ttrpc"}"
[plugins."io.containerd.internal.v1.opt"]
  path = "{d / "opt"}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{sandbox_image}"
  stream_server_address = "{ip}"
  stream_server_port = "{stream_port}"
  # root here lacks CAP_SYS_RESOURCE: without this, runc fails every sandbox
  # ("can't get final child's PID from pipe: EOF")
  restrict_oom_score_adj = true
  disable_apparmor = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "{d / "runc"}"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN_DIR}"
    conf_dir = "{d / "cni"}"
"""


def kubelet_config(
    *,
    ip: str,
    port: int,
    healthz_port: int,
    ca: Path,
    cert: Path,
    key: Path,
    socket: Path,
    logs: Path,
    cgroup_root: str,
) -> dict[str, object]:
    """The KubeletConfiguration: loopback only, x509 clients, cgroupfs on cgroup v1,
    the host's iptables left alone, eviction relaxed for a shared test machine."""
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": ip,
        "port": port,
        "readOnlyPort": 0,
        "healthzBindAddress": ip,
        "healthzPort": healthz_port,
        "tlsCertFile": str(cert),
        "tlsPrivateKeyFile": str(key),
        "authentication": {
            "x509": {"clientCAFile": str(ca)},
            "anonymous": {"enabled": False},
            "webhook": {"enabled": False},
        },
        "authorization": {"mode": "AlwaysAllow"},
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": f"/{cgroup_root}",
        "failCgroupV1": False,
        "failSwapOn": False,
        "containerRuntimeEndpoint": f"unix://{socket}",
        "imageServiceEndpoint": f"unix://{socket}",
        "podLogsDir": str(logs),
        "makeIPTablesUtilChains": False,
        "serializeImagePulls": False,
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {
            "memory.available": "50Mi",
            "nodefs.available": "1%",
            "nodefs.inodesFree": "1%",
            "imagefs.available": "1%",
        },
        "syncFrequency": "10s",
        "fileCheckFrequency": "10s",
        "nodeStatusUpdateFrequency": "5s",
    }


@dataclass
class Node:
    """A kubelet and its containerd, started against ``plane`` (see ``Cluster``)."""

    plane: ControlPlane
    index: int
    sandbox_image: str
    images: list[Path] = field(default_factory=list)
    ready_timeout: float = 120.0
    directory: Path = field(init=False)
    procs: list[Process] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self.directory = self.plane.workdir / f"n{self.index}"

    @property
    def ip(self) -> str:
        return f"127.0.0.{self.index}"

    @property
    def name(self) -> str:
        return self.ip

    @property
    def socket(self) -> Path:
        return self.directory / "containerd" / "containerd.sock"

    @property
    def cgroup(self) -> str:
        """The node's cgroupRoot: named after the cluster's directory (its run id)."""
        return f"{self.plane.workdir.name}-n{self.index}"

    def start(self) -> Node:
        self._start_containerd()
        for archive in self.images:
            self.ctr("images", "import", str(archive))
        self._start_kubelet()
        return self

    def ctr(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ctr", "--address", str(self.socket), "--namespace", "k8s.io", *args],
            capture_output=True,
            text=True,
            check=check,
            timeout=300,
        )

    def _start_containerd(self) -> None:
        d = self.directory / "containerd"
        (d / "cni").mkdir(parents=True, exist_ok=True)
        (d / "cni" / "10-loopback.conflist").write_text(json.dumps(LOOPBACK_CNI))
        config = d / "config.toml"
        config.write_text(containerd_config(d, self.ip, free_port(), self.sandbox_image))
        proc = self.plane.spawn(
            f"containerd-n{self.index}", ["containerd", "--config", str(config), "--log-level=warn"]
        )
        self.procs.append(proc)
        self.plane.wait_for(proc, lambda: self.ctr("version", check=False).returncode == 0)

    def _start_kubelet(self) -> None:
        d = self.directory / "kubelet"
        certs = d / "pki"
        client = pki.issue(
            self.plane.pki, certs, "client", f"system:node:{self.name}", groups=("system:nodes",)
        )
        serving = pki.issue(self.plane.pki, certs, "serving", self.name, server_ips=(self.ip,))
        kubeconfig = write_kubeconfig(
            d / "kubeconfig", self.plane.server, self.plane.pki.ca_cert, *client
        )
        hostclean.make_cgroup(self.cgroup)
        config = d / "config.yaml"
        config.write_text(
            yaml.safe_dump(
                kubelet_config(
                    ip=self.ip,
                    port=free_port(),
                    healthz_port=free_port(),
                    ca=self.plane.pki.ca_cert,
                    cert=serving[0],
                    key=serving[1],
                    socket=self.socket,
                    logs=d / "pod-logs",
                    cgroup_root=self.cgroup,
                )
            )
        )
        proc = self.plane.spawn(
            f"kubelet-n{self.index}",
            [
                str(binary("kubelet", self.plane.environ)),
                f"--config={config}",
                f"--kubeconfig={kubeconfig}",
                f"--root-dir={d / 'root'}",
                f"--hostname-override={self.name}",
                "--v=1",
            ],
        )
        self.procs.append(proc)
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if proc.popen.poll() is not None:
                raise ControlPlaneError(f"kubelet exited:\n{proc.tail()}")
            if self.ready():
                return
            time.sleep(1)
        raise ControlPlaneError(f"node {self.name} not Ready:\n{proc.tail()}")

    def ready(self) -> bool:
        out = self.plane.kubectl(
            "get",
            "node",
            self.name,
            "-o",
            'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
            check=False,
        )
        return out.stdout.strip() == "True"

    def stop(self) -> None:
        """Stop the kubelet, kill every container, stop containerd and its shims, unmount
        what they mounted, remove the node's cgroups."""
        for proc in reversed(self.procs):
            if proc.name.startswith("kubelet"):
                self.plane.terminate(proc)
        if self.socket.exists():
            tasks = self.ctr("tasks", "list", "--quiet", check=False).stdout.split()
            for task in tasks:
                self.ctr("tasks", "kill", "--signal", "SIGKILL", task, check=False)
        hostclean.kill_cgroup(self.cgroup)
        for proc in reversed(self.procs):
            self.plane.terminate(proc)
        self.procs.clear()
        # shims outlive containerd: they carry its socket's address in their arguments
        hostclean.kill_pids(hostclean.pids_with(str(self.socket)))
        hostclean.unmount_under(self.directory)
        hostclean.remove_cgroup(self.cgroup)
