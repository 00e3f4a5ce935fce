"""The local cluster's clean-up finds exactly what the cluster mounted and started."""

from __future__ import annotations

import os
from pathlib import Path

from devtools.localcluster.hostclean import FixedPathSnapshot, mounts_under, pids_with
from devtools.localcluster.node import containerd_config, kubelet_config

MOUNTINFO = """\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
90 22 0:50 / /c/run-1/n1/kubelet/root rw shared:40 - ext4 /dev/vda rw
91 90 0:51 / /c/run-1/n1/kubelet/root/pods/u/volumes/kube-api-access rw - tmpfs tmpfs rw
92 22 0:52 / /c/run-1/n1/containerd/state/task/k8s.io/abc/rootfs rw - overlay overlay rw
93 22 0:53 / /c/run-10/n1/x rw - tmpfs tmpfs rw
94 22 0:54 / /c/run-1/n1/with\\040space rw - tmpfs tmpfs rw
"""


def test_mounts_under_a_directory_deepest_first_and_nothing_else() -> None:
    found = mounts_under(MOUNTINFO, ["/c/run-1/"])
    assert found == [
        "/c/run-1/n1/containerd/state/task/k8s.io/abc/rootfs",  # as deep: the later first
        "/c/run-1/n1/kubelet/root/pods/u/volumes/kube-api-access",
        "/c/run-1/n1/kubelet/root",
        "/c/run-1/n1/with space",
    ]
    assert "/c/run-10/n1/x" not in found  # a sibling with the same prefix is not ours


def test_pids_with_a_marker_never_include_this_process(tmp_path: Path) -> None:
    for pid, cmd in [(11, b"containerd-shim\0-address\0/c/run-1/sock\0"), (12, b"bash\0"),
                     (os.getpid(), b"python\0/c/run-1/sock\0")]:  # fmt: skip
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "cmdline").write_bytes(cmd)
    (tmp_path / "self").mkdir()
    assert pids_with("/c/run-1/sock", tmp_path) == [11]


def test_a_snapshot_removes_only_what_appeared(tmp_path: Path) -> None:
    old, root = tmp_path / "fixed" / "old", tmp_path / "fixed"
    old.mkdir(parents=True)
    missing = tmp_path / "later"
    snap = FixedPathSnapshot((root, missing)).take()
    (root / "new" / "deep").mkdir(parents=True)
    (root / "new" / "deep" / "sock").write_text("")
    (missing / "device-plugins").mkdir(parents=True)
    (old / "file").write_text("")
    removed = snap.restore()
    assert old.is_dir() and not (old / "file").exists()
    assert not (root / "new").exists() and not missing.exists()
    assert removed[0].name == "sock" and removed[-1] in (root / "new", missing)


def test_the_runtime_and_kubelet_configs_keep_to_their_directory_and_loopback() -> None:
    text = containerd_config(Path("/c/n1"), "127.0.0.2", 21000, "localhost/pause:1")
    assert 'address = "/c/n1/containerd.sock"' in text and 'root = "/c/n1/root"' in text
    assert "restrict_oom_score_adj = true" in text and 'stream_server_address = "127.0.0.2"' in text
    cfg = kubelet_config(
        ip="127.0.0.2", port=1, healthz_port=2, ca=Path("ca"), cert=Path("c"), key=Path("k"),
        socket=Path("/c/n1/containerd.sock"), logs=Path("/c/n1/logs"), cgroup_root="run-n2",
    )  # fmt: skip
    assert cfg["address"] == cfg["healthzBindAddress"] == "127.0.0.2"
    assert cfg["readOnlyPort"] == 0 and cfg["failCgroupV1"] is False
    assert cfg["cgroupDriver"] == "cgroupfs" and cfg["cgroupRoot"] == "/run-n2"
    assert cfg["makeIPTablesUtilChains"] is False
    assert cfg["authentication"] == {
        "x509": {"clientCAFile": "ca"}, "anonymous": {"enabled": False},
        "webhook": {"enabled": False},
    }  # fmt: skip
