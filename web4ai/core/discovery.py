"""Auto-discovery, the pure part: what a probe of a discovery endpoint found, and
what to do about it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from web4ai.core.ids import IdKind, InvalidId, identity

NODE_KIND = "web4ai-node"
MESSAGE_LIMIT = 1024


class Found(StrEnum):
    JOINED = "joined"  # an unregistered node: it was sent a join
    JOINING = "joining"  # it has joined (by us or another replica), not yet registered
    REGISTERED = "registered"
    NOT_A_NODE = "not_a_node"
    UNREACHABLE = "unreachable"

    @property
    def problem(self) -> bool:
        return self in (Found.NOT_A_NODE, Found.UNREACHABLE)


@dataclass(frozen=True)
class Probe:
    endpoint: str
    found: Found
    node_id: str | None = None
    message: str = ""

    def as_status(self, when: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "endpoint": self.endpoint,
            "state": self.found.value,
            "message": self.message[:MESSAGE_LIMIT],
            "lastProbeTime": when,
        }
        if self.node_id:
            out["nodeId"] = self.node_id
        return out


def classify(endpoint: str, status: int, document: Any, registered: set[str]) -> Probe:
    """1. anything but a 200 JSON object of kind ``web4ai-node`` with a valid node id
    is not a node; 2. a registered id is registered; 3. one that says it joined is
    joining; 4. the rest is to be sent a join (``JOINED`` once sent)."""
    if status != 200:
        return Probe(endpoint, Found.NOT_A_NODE, message=f"answered HTTP {status}")
    if not isinstance(document, dict) or document.get("kind") != NODE_KIND:
        return Probe(endpoint, Found.NOT_A_NODE, message="not a web4ai node document")
    node_id = document.get("node_id")
    try:
        identity(IdKind.NODE, node_id)
    except InvalidId as exc:
        return Probe(endpoint, Found.NOT_A_NODE, message=f"invalid node_id: {exc}")
    node_id = str(node_id)
    if node_id in registered:
        return Probe(endpoint, Found.REGISTERED, node_id, "registered")
    if document.get("joined"):
        return Probe(endpoint, Found.JOINING, node_id, "joined; not registered yet")
    return Probe(endpoint, Found.JOINED, node_id, "sent a join")
