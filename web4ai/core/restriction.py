"""What a node key may claim for its own node, in the spirit of Kubernetes'
NodeRestriction: a bounded capacity, and only the capabilities its key pins."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def registration_refusal(
    spec: Mapping[str, Any], max_agents: int, allowed_capabilities: Sequence[str] | None
) -> str | None:
    """Why a node key may not register ``spec`` (the Web4AINode spec it asks for),
    or None. ``allowed_capabilities`` None means the key pins none."""
    for field, name in (
        ("agentsCount", "agents_count"),
        ("maxConcurrentTasks", "max_concurrent_tasks"),
    ):
        value = spec.get(field)
        if isinstance(value, int) and value > max_agents:
            return f"a node key may claim at most {max_agents} for {name} (asked {value})"
    agents = spec.get("agents") or []
    if len(agents) > max_agents:
        return f"a node key may declare at most {max_agents} agents (asked {len(agents)})"
    if allowed_capabilities is not None:
        claimed = set(spec.get("capabilities") or [])
        for agent in agents:
            claimed |= set(agent.get("capabilities") or [])
        extra = sorted(claimed - set(allowed_capabilities))
        if extra:
            return "this node key may not claim the capabilities " + ", ".join(extra)
    return None
