"""The local control plane itself: real versions, clean stops, no survivors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest

from devtools.localcluster.controlplane import ControlPlane
from devtools.localcluster.target import resolve_target

REPO = Path(__file__).resolve().parents[2]
VERSIONS = dict(
    line.split("=", 1)
    for line in (REPO / "hack" / "versions.env").read_text().splitlines()
    if "=" in line and not line.startswith("#")
)

pytestmark = pytest.mark.skipif(
    resolve_target().kubeconfig is not None,
    reason="tests the local control plane; WEB4AI_USE_EXISTING_CLUSTER is set",
)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purposes
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def wait_dead(pids: list[int], timeout: float = 15) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = [p for p in pids if alive(p)]
        if not left:
            return []
        time.sleep(0.1)
    return [p for p in pids if alive(p)]


def test_reports_real_versions_and_stops_cleanly() -> None:
    plane = ControlPlane().start()
    try:
        pids = plane.pids
        assert len(pids) == 2
        with urllib.request.urlopen(f"{plane.server}/version", context=plane.ssl_context()) as r:
            version = json.load(r)
        assert version["gitVersion"] == VERSIONS["KUBERNETES_VERSION"]
        out = plane.kubectl("version", "-o", "json").stdout
        assert json.loads(out)["clientVersion"]["gitVersion"] == VERSIONS["KUBERNETES_VERSION"]
        workdir = plane.workdir
    finally:
        plane.stop()
    assert wait_dead(pids) == []
    assert not workdir.exists()


def test_processes_die_with_a_killed_parent(tmp_path: Path) -> None:
    """SIGKILL the process that started the control plane: nothing survives."""
    script = textwrap.dedent(
        """
        import sys, time
        from devtools.localcluster.controlplane import ControlPlane
        plane = ControlPlane().start()
        print(" ".join(map(str, plane.pids)), flush=True)
        time.sleep(600)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        pids = [int(p) for p in line.split()]
        assert len(pids) == 2, line
        assert all(alive(p) for p in pids)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert wait_dead(pids) == []
