"""The resources the orchestrator reads and writes, each spelled once: its API group,
version, plural and kind. Every read, write and watch is keyed by one of these. Pure."""

from __future__ import annotations

from dataclasses import dataclass

GROUP = "web4ai.io"
VERSION = "v1alpha1"


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    plural: str
    kind: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"


NODES = Resource(GROUP, VERSION, "web4ainodes", "Web4AINode")
TASKS = Resource(GROUP, VERSION, "web4aitasks", "Web4AITask")
ORCHESTRATORS = Resource(GROUP, VERSION, "web4aiorchestrators", "Web4AIOrchestrator")
LEASES = Resource("coordination.k8s.io", "v1", "leases", "Lease")
