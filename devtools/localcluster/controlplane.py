"""Start and stop etcd and kube-apiserver on free loopback ports.

Every process is started with PR_SET_PDEATHSIG so that it dies with the
process that started it, even when that one is killed with SIGKILL; ``stop``
terminates them (SIGTERM, then SIGKILL) and removes the temporary directory.
"""

from __future__ import annotations

import base64
import ctypes
import os
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO

import yaml

from devtools.localcluster import pki as pki_mod
from devtools.localcluster.binaries import binary
from devtools.localcluster.ports import free_port

_PR_SET_PDEATHSIG = 1


class ControlPlaneError(RuntimeError):
    """The local control plane could not be started."""


def die_with_parent() -> None:
    """preexec_fn for children that must not outlive the process that started them."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    log: IO[bytes]

    def tail(self, lines: int = 30) -> str:
        self.log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


def _terminate(proc: Process) -> None:
    """SIGTERM, then SIGKILL after 10 s; the log is closed."""
    if proc.popen.poll() is None:
        proc.popen.terminate()
    try:
        proc.popen.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.popen.kill()
        proc.popen.wait()
    proc.log.close()


@dataclass
class ControlPlane:
    """A local etcd + kube-apiserver. Use as a context manager or call start/stop."""

    environ: dict[str, str] | None = None
    start_timeout: float = 60.0
    # for kubelets (devtools.localcluster.cluster): the Node authorizer, NodeRestriction,
    # and the admin certificate as the API server's client certificate to the kubelets
    node_auth: bool = False
    parent: Path | None = None  # where the work dir goes (default: the temp dir)
    workdir: Path = field(init=False)
    kubeconfig: Path = field(init=False)
    server: str = field(init=False, default="")
    pki: pki_mod.Pki = field(init=False)
    _processes: list[Process] = field(init=False, default_factory=list)
    _etcd_url: str = field(init=False, default="")

    def __post_init__(self) -> None:
        # WEB4AI_RUN_ID (set by `make test`) tags the work dir so that
        # hack/check-leaks.sh can find exactly the processes of one run.
        env = os.environ if self.environ is None else self.environ
        run_id = env.get("WEB4AI_RUN_ID", "")
        prefix = f"web4ai-cp-{run_id}-" if run_id else "web4ai-cp-"
        self.workdir = Path(tempfile.mkdtemp(prefix=prefix, dir=self.parent))
        self.kubeconfig = self.workdir / "kubeconfig"

    # -- life cycle -------------------------------------------------------

    def __enter__(self) -> ControlPlane:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> ControlPlane:
        try:
            self.pki = pki_mod.generate(self.workdir / "pki")
            etcd_url = self._start_etcd()
            self._start_apiserver(etcd_url)
            self._write_kubeconfig()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop kube-apiserver, then etcd (each SIGTERM, then SIGKILL after 10 s)."""
        for proc in reversed(self._processes):
            _terminate(proc)
        self._processes.clear()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def terminate(self, proc: Process) -> None:
        """Stop one process now (SIGTERM, then SIGKILL after 10 s)."""
        if proc in self._processes:
            _terminate(proc)
            self._processes.remove(proc)

    @property
    def pids(self) -> list[int]:
        return [p.popen.pid for p in self._processes]

    # -- processes --------------------------------------------------------

    def spawn(self, name: str, args: list[str]) -> Process:
        """Start one process of the cluster; ``stop`` stops it (in reverse start order)."""
        log_path = self.workdir / f"{name}.log"
        log = log_path.open("wb")
        popen = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent,  # only sets PR_SET_PDEATHSIG
            start_new_session=True,  # a Ctrl-C reaches us, and we stop etcd last
            cwd=self.workdir,
        )
        proc = Process(name, popen, log_path, log)
        self._processes.append(proc)
        return proc

    def wait_for(self, proc: Process, probe: Callable[[], bool]) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if proc.popen.poll() is not None:
                raise ControlPlaneError(
                    f"{proc.name} exited with {proc.popen.returncode}:\n{proc.tail()}"
                )
            if probe():
                return
            time.sleep(0.1)
        raise ControlPlaneError(
            f"{proc.name} not ready after {self.start_timeout}s:\n{proc.tail()}"
        )

    def _start_etcd(self) -> str:
        client, peer = free_port(), free_port()
        url = f"http://127.0.0.1:{client}"
        proc = self.spawn(
            "etcd",
            [
                str(binary("etcd", self.environ)),
                "--name=web4ai-local",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={url}",
                f"--advertise-client-urls={url}",
                f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-cluster=web4ai-local=http://127.0.0.1:{peer}",
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
        )

        def healthy() -> bool:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=1) as resp:
                    return b'"health":"true"' in resp.read()
            except (OSError, urllib.error.URLError):
                return False

        self.wait_for(proc, healthy)
        return url

    def restart_apiserver(self) -> None:
        """Stop kube-apiserver and start it again on the same port, etcd kept (chaos)."""
        proc = next(p for p in self._processes if p.name == "kube-apiserver")
        _terminate(proc)
        self._processes.remove(proc)
        self._start_apiserver(self._etcd_url, int(self.server.rsplit(":", 1)[1]))

    def _start_apiserver(self, etcd_url: str, port: int | None = None) -> None:
        self._etcd_url = etcd_url
        port = port or free_port()
        self.server = f"https://127.0.0.1:{port}"
        proc = self.spawn(
            "kube-apiserver",
            [
                str(binary("kube-apiserver", self.environ)),
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={port}",
                f"--cert-dir={self.workdir / 'certs'}",
                f"--tls-cert-file={self.pki.serving_cert}",
                f"--tls-private-key-file={self.pki.serving_key}",
                f"--client-ca-file={self.pki.ca_cert}",
                *self._auth_flags(),
                f"--service-account-issuer={self.server}",
                f"--service-account-key-file={self.pki.sa_public}",
                f"--service-account-signing-key-file={self.pki.sa_private}",
                "--service-cluster-ip-range=10.0.0.0/24",
                "--allow-privileged=true",
                "--profiling=false",
                "--v=0",
            ],
        )
        ctx = self.ssl_context()

        def ready() -> bool:
            try:
                with urllib.request.urlopen(f"{self.server}/readyz", timeout=2, context=ctx) as r:
                    return bool(r.status == 200)
            except (OSError, urllib.error.URLError):
                return False

        self.wait_for(proc, ready)

    def _auth_flags(self) -> list[str]:
        if not self.node_auth:
            return ["--authorization-mode=RBAC"]
        return [
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction",
            f"--kubelet-client-certificate={self.pki.admin_cert}",
            f"--kubelet-client-key={self.pki.admin_key}",
            f"--kubelet-certificate-authority={self.pki.ca_cert}",
        ]

    # -- clients ----------------------------------------------------------

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.pki.ca_cert))
        ctx.load_cert_chain(str(self.pki.admin_cert), str(self.pki.admin_key))
        return ctx

    def _write_kubeconfig(self) -> None:
        write_kubeconfig(
            self.kubeconfig, self.server, self.pki.ca_cert, self.pki.admin_cert, self.pki.admin_key
        )

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run the cached kubectl against this control plane."""
        return subprocess.run(
            [str(binary("kubectl", self.environ)), f"--kubeconfig={self.kubeconfig}", *args],
            capture_output=True,
            text=True,
            check=check,
            timeout=120,
            env={**os.environ, "KUBECONFIG": str(self.kubeconfig)},
        )


def write_kubeconfig(path: Path, server: str, ca: Path, cert: Path, key: Path) -> Path:
    """A kubeconfig (mode 0600) for ``server`` with a client certificate, data inlined."""

    def b64(p: Path) -> str:
        return base64.b64encode(p.read_bytes()).decode()

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "web4ai-local",
                "cluster": {"server": server, "certificate-authority-data": b64(ca)},
            }
        ],
        "users": [
            {
                "name": "web4ai-admin",
                "user": {"client-certificate-data": b64(cert), "client-key-data": b64(key)},
            }
        ],
        "contexts": [
            {
                "name": "web4ai-local",
                "context": {
                    "cluster": "web4ai-local",
                    "user": "web4ai-admin",
                    "namespace": "default",
                },
            }
        ],
        "current-context": "web4ai-local",
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path
