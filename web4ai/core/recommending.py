"""Performance advice computed from the nodes' real metrics against configured
targets (``/metrics/performance``), and the load classes the scheduler uses when
``performance.optimization_enabled`` is on."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from web4ai.core.model import Node, NodeStatus, Thresholds

SCALE_TOLERANCE = 0.1  # as the HorizontalPodAutoscaler: within 10 % of the target, maintain


@dataclass(frozen=True)
class Targets:
    """The seed's values are the defaults."""

    response_time_ms: float = 150.0
    utilization: float = 0.7
    min_nodes: int = 1
    max_nodes: int = 100


def overloaded(node: Node, thresholds: Thresholds) -> bool:
    return node.cpu_usage >= thresholds.cpu or node.memory_usage >= thresholds.memory


def underloaded(node: Node, thresholds: Thresholds) -> bool:
    """An active node using under half of both thresholds, with a free slot."""
    return (
        node.status is NodeStatus.ACTIVE
        and node.free_slots > 0
        and node.cpu_usage < thresholds.cpu / 2
        and node.memory_usage < thresholds.memory / 2
    )


def desired_nodes(current: int, utilization: float, targets: Targets) -> int:
    """The HorizontalPodAutoscaler's rule: ceil(current x utilization / target), kept
    within [min_nodes, max_nodes]; within the tolerance the count stays."""
    if current <= 0:
        return max(targets.min_nodes, 1 if utilization > 0 else 0)
    ratio = utilization / targets.utilization if targets.utilization > 0 else 1.0
    wanted = current if abs(ratio - 1.0) <= SCALE_TOLERANCE else math.ceil(current * ratio)
    return max(targets.min_nodes, min(targets.max_nodes, wanted))


def recommendations(
    nodes: Sequence[Node],
    thresholds: Thresholds,
    targets: Targets,
    *,
    avg_response_ms: float,
    utilization: float,
) -> list[dict[str, Any]]:
    """1. load_rebalancing when nodes are over the thresholds or responses are slower
    than the target, naming the overloaded and underloaded nodes;
    2. auto_scaling: scale_up, scale_down or maintain from utilization vs the target
    and min/max nodes;
    3. node_health when nodes are offline or in error."""
    recs: list[dict[str, Any]] = []
    live = [n for n in nodes if n.status in (NodeStatus.ACTIVE, NodeStatus.DEGRADED)]
    hot = sorted(n.node_id for n in live if overloaded(n, thresholds))
    cold = sorted(n.node_id for n in live if underloaded(n, thresholds))
    unhealthy = sorted(
        n.node_id for n in nodes if n.status in (NodeStatus.OFFLINE, NodeStatus.ERROR)
    )
    if hot or avg_response_ms > targets.response_time_ms:
        recs.append(
            {
                "type": "load_rebalancing",
                "priority": "high" if len(hot) > len(live) / 2 else "medium",
                "description": (
                    f"{len(hot)} node(s) over the cpu/memory thresholds, rebalance load"
                    if hot
                    else "High response times detected, rebalance load"
                ),
                "details": {
                    "current_avg_response_time": avg_response_ms,
                    "target_response_time": targets.response_time_ms,
                    "cpu_threshold": thresholds.cpu,
                    "memory_threshold": thresholds.memory,
                    "overloaded_nodes": hot,
                    "underloaded_nodes": cold,
                },
            }
        )
    current = sum(1 for n in nodes if n.status is NodeStatus.ACTIVE)
    want = desired_nodes(current, utilization, targets)
    if want > current:
        action, prio = "scale_up", "high" if current < targets.min_nodes else "medium"
        text = f"Network utilization is above the target, add {want - current} node(s)"
        if current < targets.min_nodes:
            text = f"Fewer active nodes than min_nodes ({targets.min_nodes}), add nodes"
    elif want < current:
        action, prio = "scale_down", "low"
        text = f"Network utilization is below the target, {current - want} node(s) could go"
    else:
        action, prio = "maintain", "low"
        text = "Network utilization is optimal, no scaling needed"
    recs.append(
        {
            "type": "auto_scaling",
            "priority": prio,
            "description": text,
            "details": {
                "current_utilization": utilization,
                "target_utilization": targets.utilization,
                "action": action,
                "active_nodes": current,
                "desired_nodes": want,
                "min_nodes": targets.min_nodes,
                "max_nodes": targets.max_nodes,
            },
        }
    )
    if unhealthy:
        recs.append(
            {
                "type": "node_health",
                "priority": "high",
                "description": f"{len(unhealthy)} node(s) offline or in error",
                "details": {"nodes": unhealthy},
            }
        )
    return recs
