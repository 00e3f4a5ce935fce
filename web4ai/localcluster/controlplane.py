"""Alias of ``devtools.localcluster.controlplane`` (see the package docstring)."""

from devtools.localcluster.controlplane import ControlPlane as ControlPlane
from devtools.localcluster.controlplane import die_with_parent as die_with_parent
from devtools.localcluster.controlplane import free_port as free_port
