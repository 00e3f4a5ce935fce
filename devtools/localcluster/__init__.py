"""A real local control plane (etcd + kube-apiserver on loopback), as envtest runs it.

Used by the test suite and by ``make run``; never by the product in a cluster.
"""

from devtools.localcluster.controlplane import ControlPlane, ControlPlaneError

__all__ = ["ControlPlane", "ControlPlaneError"]
