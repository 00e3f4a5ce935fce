"""Kubernetes access: clients, CRD installation, resource mapping, watch caches."""
