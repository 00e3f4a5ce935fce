"""Choosing between a local control plane and an existing cluster."""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools.localcluster.target import resolve_target


def test_kubeconfig_alone_never_selects_an_existing_cluster(tmp_path: Path) -> None:
    kc = tmp_path / "config"
    kc.write_text("{}")
    assert resolve_target({"KUBECONFIG": str(kc)}).kubeconfig is None


def test_explicit_switch_uses_kubeconfig(tmp_path: Path) -> None:
    kc = tmp_path / "config"
    kc.write_text("{}")
    env = {"KUBECONFIG": str(kc), "WEB4AI_USE_EXISTING_CLUSTER": "true"}
    assert resolve_target(env).kubeconfig == str(kc)


def test_switch_with_missing_kubeconfig_is_a_clear_error(tmp_path: Path) -> None:
    env = {"KUBECONFIG": str(tmp_path / "nope"), "WEB4AI_USE_EXISTING_CLUSTER": "1"}
    with pytest.raises(SystemExit, match="does not exist"):
        resolve_target(env)
