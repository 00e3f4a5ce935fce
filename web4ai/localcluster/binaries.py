"""Alias of ``devtools.localcluster.binaries`` (see the package docstring)."""

from devtools.localcluster.binaries import binary as binary
