"""Web4AI Orchestrator: a Kubernetes-native control plane for AI worker nodes."""

__version__ = "0.1.0"
