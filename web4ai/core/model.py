"""The domain as the scheduler and the life-cycle rules see it: plain, frozen values."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property


class NodeStatus(StrEnum):
    ACTIVE = "active"
    DEGRADED = "degraded"
    MAINTENANCE = "maintenance"
    OFFLINE = "offline"
    ERROR = "error"


class TaskStatus(StrEnum):
    """The seed's four task statuses: what every client sees."""

    PENDING = "pending"
    ACTIVE = "active"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self in (TaskStatus.COMPLETED, TaskStatus.FAILED)


# The tasks not finished yet, as a field selector (the CRD makes ``.status.status``
# selectable): what the operator's passes need first when it starts.
UNFINISHED_TASKS = ",".join(f"status.status!={s.value}" for s in TaskStatus if s.terminal)


class TaskPhase(StrEnum):
    """The finer state beside ``status`` (as a Pod's phase beside its conditions)."""

    QUEUED = "queued"  # waiting for a first assignment
    RETRYING = "retrying"  # waiting again after a failed attempt
    ASSIGNED = "assigned"  # bound to a node, not yet started
    RUNNING = "running"  # the node started it
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"  # failed because someone cancelled it

    @property
    def status(self) -> TaskStatus:
        return PHASE_STATUS[self]

    @property
    def terminal(self) -> bool:
        return self.status.terminal

    @property
    def bound(self) -> bool:
        """Holds a slot on a node."""
        return self in (TaskPhase.ASSIGNED, TaskPhase.RUNNING)

    @property
    def waiting(self) -> bool:
        """Waiting for the scheduler."""
        return self in (TaskPhase.QUEUED, TaskPhase.RETRYING)


PHASE_STATUS = {
    TaskPhase.QUEUED: TaskStatus.PENDING,
    TaskPhase.RETRYING: TaskStatus.PENDING,
    TaskPhase.ASSIGNED: TaskStatus.ACTIVE,
    TaskPhase.RUNNING: TaskStatus.ACTIVE,
    TaskPhase.COMPLETED: TaskStatus.COMPLETED,
    TaskPhase.FAILED: TaskStatus.FAILED,
    TaskPhase.CANCELLED: TaskStatus.FAILED,
}


class Algorithm(StrEnum):
    ROUND_ROBIN = "round_robin"
    WEIGHTED_ROUND_ROBIN = "weighted_round_robin"
    LEAST_CONNECTIONS = "least_connections"
    RESOURCE_AWARE = "resource_aware"
    LATENCY_OPTIMIZED = "latency_optimized"


@dataclass(frozen=True)
class AgentModels:
    """An agent's models: those it can serve and those it holds loaded now."""

    agent_id: str
    served: frozenset[str] = frozenset()
    loaded: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Node:
    """A node as the scheduler sees it. ``running`` counts tasks assigned or running."""

    node_id: str
    status: NodeStatus
    capacity: int
    running: int = 0
    capabilities: frozenset[str] = frozenset()
    cpu_usage: float = 0.0
    memory_usage: float = 0.0
    gpu_usage: float = 0.0
    memory_total_mb: float | None = None
    load_score: float = 0.0
    reliability: float = 1.0
    network_latency: float | None = None
    agents: tuple[AgentModels, ...] = ()

    @cached_property
    def models(self) -> frozenset[str]:
        """Every model an agent of the node can serve (or holds loaded)."""
        return frozenset().union(*(a.served | a.loaded for a in self.agents))

    @property
    def free_slots(self) -> int:
        return self.capacity - self.running

    @property
    def free_memory_mb(self) -> float | None:
        if self.memory_total_mb is None:
            return None
        return self.memory_total_mb * (100.0 - self.memory_usage) / 100.0


@dataclass(frozen=True)
class Requirements:
    capabilities: frozenset[str] = frozenset()
    min_cpu: float = 0.0
    min_memory: float = 0.0
    preferred_nodes: tuple[str, ...] = ()
    exclude_nodes: frozenset[str] = frozenset()
    model: str | None = None  # an agent of the node must serve it
    affinity_key: str | None = None  # same key, same node (bounded loads)

    @property
    def routed(self) -> bool:
        """Whether routing has more to do than the algorithm (a model or a key)."""
        return self.model is not None or self.affinity_key is not None


@dataclass(frozen=True)
class Task:
    """A task as the scheduler sees it; ``order`` is (priority, submitted time, name)."""

    name: str
    task_id: str
    priority: int
    submitted_at: float
    requirements: Requirements = field(default_factory=Requirements)
    previous_nodes: tuple[str, ...] = ()  # nodes of earlier attempts, oldest first

    @property
    def order(self) -> tuple[int, float, str]:
        return (self.priority, self.submitted_at, self.name)


@dataclass(frozen=True)
class Thresholds:
    cpu: float = 80.0
    memory: float = 85.0


def default_capacity(agents_count: int, max_concurrent_tasks: int | None) -> int:
    """``max_concurrent_tasks`` when given, else ``agents_count``; at least 1."""
    if max_concurrent_tasks is not None:
        return max(1, max_concurrent_tasks)
    return max(1, agents_count)


def effective_node_status(
    admin: NodeStatus | None, reported: NodeStatus | None, alive: bool
) -> NodeStatus:
    """What a node's ``status`` shows: an admin's intent (maintenance, offline, ...)
    holds until an admin changes it, as ``spec.unschedulable`` does for a Kubernetes
    node; underneath, a node whose heartbeats stopped is offline, else it is what it
    reports (active by default)."""
    if admin is not None:
        return admin
    if not alive:
        return NodeStatus.OFFLINE
    return reported or NodeStatus.ACTIVE
