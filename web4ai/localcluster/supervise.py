"""Alias of ``devtools.localcluster.supervise`` (see the package docstring)."""

from devtools.localcluster.supervise import Component as Component
from devtools.localcluster.supervise import Supervisor as Supervisor
