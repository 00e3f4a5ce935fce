"""The custom resources' bodies as TypedDicts, mirroring ``crds/*.yaml`` field for
field (``tests/unit/test_crs_agree_with_crds.py`` walks both). ``Body`` is the one
alias for an untyped body (what the Kubernetes client hands over); code that knows
which kind it holds can say so with ``NodeBody``, ``TaskBody`` or ``OrchestratorBody``
(``AnyBody``: any of them, or an untyped one). ``Patch`` is a merge patch: a partial
body whose ``None`` values delete fields, so it is not one of the TypedDicts.
Times are RFC 3339 strings, as stored. Pure: types only."""

from typing import Any, Required, TypedDict

# no `from __future__ import annotations`: Required[] must be seen when the class is made
Body = dict[str, Any]
Patch = dict[str, Any]


class Condition(TypedDict):
    type: str
    status: str
    lastTransitionTime: str
    reason: str
    message: str


class ObjectMeta(TypedDict, total=False):
    name: Required[str]
    namespace: str
    uid: str
    resourceVersion: str
    generation: int
    creationTimestamp: str
    deletionTimestamp: str
    labels: dict[str, str]
    annotations: dict[str, str]
    finalizers: list[str]


# -- Web4AINode -------------------------------------------------------------------------


class AgentModelsBody(TypedDict, total=False):
    """An agent's models (``status.agents[]``, as the latest heartbeat reported them)."""

    agentId: Required[str]
    specializedModels: list[str]
    loadedModels: list[str]  # models held loaded now (documented addition)


class AgentSpec(AgentModelsBody, total=False):
    agentType: str
    capabilities: list[str]


class NodeSpec(TypedDict, total=False):
    nodeId: Required[str]
    host: Required[str]
    port: int
    nodeType: str
    capabilities: list[str]
    agentsCount: int
    maxConcurrentTasks: int
    version: str
    location: str
    bootId: str
    metadata: dict[str, Any]
    agents: list[AgentSpec]


class Draining(TypedDict, total=False):
    requestedAt: str
    deadline: float


class NodeStatusBody(TypedDict, total=False):
    status: str
    adminStatus: str
    reportedStatus: str
    draining: Draining
    cpuUsage: float
    memoryUsage: float
    gpuUsage: float
    loadScore: float
    reliabilityScore: float
    networkLatency: float
    uptime: float
    tasksRunning: int
    tasksCompleted: int
    tasksFailed: int
    lastHeartbeat: str
    registeredAt: str
    agentsStatus: dict[str, Any]
    agents: list[AgentModelsBody]  # each agent's models as the latest heartbeat reported them
    conditions: list[Condition]


class NodeBody(TypedDict, total=False):
    apiVersion: str
    kind: str
    metadata: Required[ObjectMeta]
    spec: Required[NodeSpec]
    status: NodeStatusBody


# -- Web4AITask -------------------------------------------------------------------------


class Requirements(TypedDict, total=False):
    capabilities: list[str]
    minCpu: float
    minMemory: float
    preferredNodes: list[str]
    excludeNodes: list[str]
    model: str
    affinityKey: str


class TaskSpec(TypedDict, total=False):
    taskId: Required[str]
    taskType: Required[str]
    priority: int
    requirements: Requirements
    inputData: dict[str, Any]
    timeout: int
    maxRetries: int
    deadline: float
    callbackUrl: str
    metadata: dict[str, Any]
    submittedAt: str


class Attempt(TypedDict, total=False):
    nodeId: str
    agentId: str
    assignedAt: str
    startedAt: str
    finishedAt: str
    outcome: str
    errorMessage: str
    error: str  # stored by an earlier version; read as errorMessage


class Progress(TypedDict, total=False):
    percent: Required[float]
    message: str
    updatedAt: str


class TaskStatusBody(TypedDict, total=False):
    status: str
    phase: str
    nodeId: str
    agentId: str
    assignedNodes: list[str]
    retryCount: int
    attempts: list[Attempt]
    assignedAt: str
    startedAt: str
    completedAt: str
    executionTime: float
    errorMessage: str
    result: Any
    performanceMetrics: dict[str, Any]
    callbackDelivered: bool
    progress: Progress
    conditions: list[Condition]


class TaskBody(TypedDict, total=False):
    apiVersion: str
    kind: str
    metadata: Required[ObjectMeta]
    spec: Required[TaskSpec]
    status: TaskStatusBody


# -- Web4AIOrchestrator -----------------------------------------------------------------


class OrchestratorSection(TypedDict, total=False):
    id: str
    host: str
    port: int
    heartbeatInterval: int
    taskTimeout: int
    autoDiscovery: bool
    taskRetention: int
    maxRetainedTasks: int
    disruptionThreshold: float
    disruptionGraceIntervals: float


class NetworkSection(TypedDict, total=False):
    discoveryEndpoints: list[str]
    loadBalanceAlgorithm: str
    maxNodes: int
    minNodes: int
    maxHeartbeatsPerSecond: float
    modelAwareRouting: bool
    affinityEpsilon: float


class PerformanceSection(TypedDict, total=False):
    monitoringEnabled: bool
    optimizationEnabled: bool
    cpuThreshold: float
    memoryThreshold: float
    targetResponseTimeMs: float
    targetUtilization: float


class SecuritySection(TypedDict, total=False):
    apiKeyRequired: bool
    maxRequestsPerMinute: int
    maxBodyBytes: int
    allowPrivateCallbacks: bool
    callbackAllowedNetworks: list[str]
    callbackAllowedHosts: list[str]
    maxAgentsPerNode: int


class WebsocketSection(TypedDict, total=False):
    enabled: bool
    port: int
    maxConnections: int


class OrchestratorSpec(TypedDict, total=False):
    paused: bool
    orchestrator: OrchestratorSection
    network: NetworkSection
    performance: PerformanceSection
    security: SecuritySection
    websocket: WebsocketSection


class DiscoveryProbe(TypedDict, total=False):
    endpoint: Required[str]
    state: Required[str]
    nodeId: str
    message: str
    lastProbeTime: str


class RetiringTask(TypedDict):
    name: str
    uid: str


class OrchestratorStatus(TypedDict, total=False):
    phase: str
    startedAt: str
    tasksCompletedTotal: int
    tasksFailedTotal: int
    retiring: list[str]
    discovery: list[DiscoveryProbe]
    retiringTasks: list[RetiringTask]
    conditions: list[Condition]


class OrchestratorBody(TypedDict, total=False):
    apiVersion: str
    kind: str
    metadata: Required[ObjectMeta]
    spec: Required[OrchestratorSpec]
    status: OrchestratorStatus


AnyBody = Body | NodeBody | TaskBody | OrchestratorBody

KINDS: dict[str, type] = {
    "web4ainodes.yaml": NodeBody,
    "web4aitasks.yaml": TaskBody,
    "web4aiorchestrators.yaml": OrchestratorBody,
}
