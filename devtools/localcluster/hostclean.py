"""Leaving the machine as it was after a local cluster: processes, mounts, cgroups and
the few fixed paths that the kubelet and containerd use whatever they are told.

The parsing is pure (tested in tests/unit/test_hostclean.py); the rest acts on /proc,
/sys/fs/cgroup and the file system, and only on what the cluster made (a marker in a
command line, a path under the cluster's directory, an entry that appeared after a
snapshot).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")

# Paths the kubelet (1.36) and containerd (1.6) write to whatever their configuration says:
# the shims' sockets, the device-plugin socket (ignores --root-dir), the container log
# symlinks, and the CNI results and network namespaces of non-host-network pods.
FIXED_PATHS = (
    Path("/run/containerd/s"),
    Path("/var/lib/kubelet"),
    Path("/var/log/containers"),
    Path("/var/lib/cni"),
    Path("/run/netns"),
)


def _unescape(field_text: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal (\\040 ...)."""
    out, i = [], 0
    while i < len(field_text):
        if field_text[i] == "\\" and field_text[i + 1 : i + 4].isdigit():
            out.append(chr(int(field_text[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field_text[i])
            i += 1
    return "".join(out)


def mounts_under(mountinfo: str, prefixes: Iterable[str]) -> list[str]:
    """Mount points at or below any of ``prefixes``, deepest (and latest) first."""
    roots = [p.rstrip("/") for p in prefixes]
    found: list[str] = []
    for line in mountinfo.splitlines():
        parts = line.split()
        if len(parts) < 5:
            continue
        point = _unescape(parts[4])
        if any(point == r or point.startswith(r + "/") for r in roots):
            found.append(point)
    order = {p: i for i, p in enumerate(found)}
    return sorted(set(found), key=lambda p: (-p.count("/"), -order[p]))


def pids_with(marker: str, proc: Path = Path("/proc")) -> list[int]:
    """Processes whose command line contains ``marker`` (never this one)."""
    pids = []
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline:
            pids.append(int(entry.name))
    return pids


def hierarchies(root: Path = CGROUP_ROOT) -> list[Path]:
    """The mounted cgroup hierarchies (cgroup v1 controllers, name=systemd, unified)."""
    if (root / "cgroup.controllers").exists():  # cgroup v2 only
        return [root]
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink())


def make_cgroup(name: str, root: Path = CGROUP_ROOT) -> None:
    """``/<name>`` in every hierarchy, for the kubelet's cgroupRoot (it must exist)."""
    for h in hierarchies(root):
        path = h / name
        path.mkdir(exist_ok=True)
        for knob in ("cpuset.cpus", "cpuset.mems"):  # an empty cpuset takes no task
            if (h / knob).exists() and not (path / knob).read_text().strip():
                (path / knob).write_text((h / knob).read_text())


def kill_cgroup(name: str, root: Path = CGROUP_ROOT, timeout: float = 20.0) -> list[int]:
    """SIGKILL every process in ``/<name>`` (any depth) until none is left; their pids."""
    killed: set[int] = set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = set()
        for h in hierarchies(root):
            for procs in (h / name).rglob("cgroup.procs") if (h / name).is_dir() else []:
                try:
                    pids |= {int(x) for x in procs.read_text().split()}
                except OSError:
                    continue
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        killed |= pids
        time.sleep(0.2)
    return sorted(killed)


def remove_cgroup(name: str, root: Path = CGROUP_ROOT) -> None:
    """rmdir ``/<name>`` and everything below it, deepest first, in every hierarchy."""
    for h in hierarchies(root):
        top = h / name
        if not top.is_dir():
            continue
        dirs = sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts))
        for d in [*dirs, top]:
            with contextlib.suppress(OSError):
                d.rmdir()


def unmount_under(*prefixes: Path) -> list[str]:
    """Unmount (lazily) everything mounted at or below the prefixes; what was unmounted."""
    done = []
    for point in mounts_under(Path("/proc/self/mountinfo").read_text(), [str(p) for p in prefixes]):
        result = subprocess.run(["umount", "-l", point], capture_output=True, check=False)
        if result.returncode == 0:
            done.append(point)
    return done


def kill_pids(pids: Iterable[int], timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL what is still there after ``timeout``."""
    pending = set(pids)
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        for pid in list(pending):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pending.discard(pid)
        deadline = time.monotonic() + wait
        while pending and time.monotonic() < deadline:
            pending = {p for p in pending if Path(f"/proc/{p}").exists() and not _zombie(p)}
            time.sleep(0.1)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


@dataclass
class FixedPathSnapshot:
    """What existed under the fixed paths before the cluster started; ``restore`` removes
    what appeared since (unmounting first), and a fixed path that did not exist."""

    roots: tuple[Path, ...] = FIXED_PATHS
    existed: set[Path] = field(default_factory=set)

    def take(self) -> FixedPathSnapshot:
        self.existed = set()
        for root in self.roots:
            for parent in [root, *root.parents]:
                if parent.exists():
                    self.existed.add(parent)
            if root.is_dir():
                self.existed |= set(_walk(root))
        return self

    def appeared(self) -> list[Path]:
        """New paths, deepest first; a new directory comes after what it holds."""
        new: set[Path] = set()
        for root in self.roots:
            for parent in [root, *root.parents]:
                if parent.exists() and parent not in self.existed:
                    new.add(parent)
            if root.exists():
                new |= {p for p in _walk(root) if p not in self.existed}
        return sorted(new, key=lambda p: -len(p.parts))

    def restore(self) -> list[Path]:
        new = self.appeared()
        if new:
            unmount_under(*new)
        for path in new:
            try:
                if path.is_dir() and not path.is_symlink():
                    path.rmdir()
                else:
                    path.unlink()
            except OSError:
                pass
        return new


def _walk(root: Path) -> list[Path]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        out += [Path(dirpath) / n for n in dirnames + filenames]
    return out
