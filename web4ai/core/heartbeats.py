"""Heartbeat policy: which heartbeats write the node's status (the rest renew its Lease
alone), and what a renewal of the node's Lease writes. Liveness is the Lease: a node
whose Lease expires is declared offline by the operator (``web4ai.operator.liveness``).
Pure: no I/O."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from typing import Any

from web4ai.core import bodies, patches
from web4ai.core.crs import Body, NodeBody, Patch
from web4ai.core.ids import IdKind, ObjectIdentity, node_lease_name
from web4ai.core.model import NodeStatus
from web4ai.core.objects import lease_object
from web4ai.core.schemas.requests import Heartbeat

# A heartbeat rewrites the node's status only when something moved this much
# (or about every status_refresh seconds, ``refresh_of``); otherwise it renews the
# Lease alone.
TOLERANCE = {
    "cpuUsage": 5.0,
    "memoryUsage": 5.0,
    "gpuUsage": 5.0,
    "loadScore": 0.05,
    "networkLatency": 25.0,  # ms
}
# Fields that move with every task (the node's counters) or with the network's
# jitter: their changes are coalesced into at most one status write per node every
# SOFT_COALESCE seconds; the rest of the heartbeat rides on the Lease renewal.
SOFT = frozenset({"agentsStatus", "networkLatency"})
SOFT_COALESCE = 15.0
IGNORED = frozenset({"uptime", "tasksRunning"})


def min_interval(live_nodes: int, max_per_second: float) -> float:
    """The shortest interval at which all live nodes together beat at most
    ``max_per_second`` times a second, in whole seconds (Nomad's heartbeat TTL)."""
    return float(math.ceil(live_nodes / max(max_per_second, 1e-9)))


def adaptive_interval(base: float, live_nodes: int, max_per_second: float) -> float:
    """The interval each node is told: ``base``, or longer as the cluster grows."""
    return max(base, min_interval(live_nodes, max_per_second))


def heartbeat_patch(data: Heartbeat, node: NodeBody, now: float, refresh: float) -> Patch | None:
    """The node's status patch for a heartbeat, or None when the Lease renewal alone
    suffices (``heartbeat_status``)."""
    new = heartbeat_status(data, node, now, refresh)
    return None if new is None else {"status": new}


def lease_spec(node_id: str, interval: float, now: float) -> dict[str, Any]:
    """A renewal of the node's Lease: held by the node, for three heartbeat intervals."""
    return {
        "holderIdentity": node_id,
        "renewTime": bodies.format_time(now),
        "leaseDurationSeconds": max(1, round(3 * interval)),
    }


def renewal_ops(node_id: str, spec: dict[str, Any]) -> list[Body]:
    """The renewal as a JSON patch that first tests the node's label, so that a Lease
    that is not the node's is never written."""
    label = "/metadata/labels/" + IdKind.NODE.label.replace("~", "~0").replace("/", "~1")
    return [{"op": "test", "path": label, "value": node_id}] + [
        {"op": "add", "path": f"/spec/{k}", "value": val} for k, val in spec.items()
    ]


def node_lease(ident: ObjectIdentity, spec: dict[str, Any], now: float) -> Body:
    """The node's Lease (``web4ai-node-<name>``, labelled with its id) on first renewal."""
    return lease_object(
        node_lease_name(ident.name),
        {**spec, "acquireTime": bodies.format_time(now)},
        ident.labels,
    )


REFRESH_INTERVALS = 10  # an unchanged status is rewritten at most every tenth heartbeat


def status_refresh(base: float, interval: float) -> float:
    """How often a node's unchanged status is rewritten: ``base``, or ten heartbeat
    intervals when that is longer (the interval grows with the cluster), so that these
    writes stay a tenth of the heartbeats: 10/s at the default cap of 100 heartbeats/s,
    where 10,000 nodes told 100 s would otherwise write 33/s. Liveness is the Lease
    and ``last_heartbeat`` reads it: only the ``lastHeartbeat`` column ages."""
    return max(base, REFRESH_INTERVALS * interval)


def refresh_of(node_id: str, refresh: float) -> float:
    """This node's own status refresh period: ``refresh`` times a factor in [0.75, 1.25)
    fixed by its id. With one period for all, nodes registered together refresh
    together, every ``refresh`` s: 10,000 nodes registered within a minute rewrote
    their status within one heartbeat interval (100 status writes/s on top of the
    Lease renewals; the slow heartbeats of bench.scale's 10,000-node run). Periods of
    their own spread them apart, and keep them apart."""
    digest = hashlib.blake2b(node_id.encode(), digest_size=4).digest()
    return refresh * (0.75 + 0.5 * int.from_bytes(digest, "big") / 2**32)


def heartbeat_status(data: Heartbeat, node: NodeBody, now: float, refresh: float) -> Patch | None:
    """The status fields to write, or None when the Lease renewal alone suffices.
    A reported ``status`` is the node's own report: an admin's intent still holds."""
    return heartbeat_change(data, node, now, refresh)[0]


def heartbeat_change(
    data: Heartbeat, node: NodeBody, now: float, refresh: float
) -> tuple[Patch | None, bool]:
    """``heartbeat_status``, and whether the write is only the refresh of a status that
    did not move (the API writes those in batches, ``web4ai.api.refreshing``)."""
    current: Mapping[str, Any] = bodies.status_of(node)  # compared field by field
    new: Patch = data.status_fields()
    reported: Any = "keep"
    if data.status is not None:
        reported = NodeStatus(data.status)
    elif bodies.reported_status(node) is None:
        reported = NodeStatus.ACTIVE
    # a heartbeat is a sign of life
    new.update(patches.node_status_fields(node, now, reported=reported, alive=True))
    last = bodies.parse_time(current.get("lastHeartbeat")) or 0.0

    def moved(k: str, val: Any) -> bool:
        if k in TOLERANCE and current.get(k) is not None:
            return abs(float(current[k]) - float(val)) >= TOLERANCE[k]
        return bool(current.get(k) != val)

    moved_keys = {k for k, val in new.items() if k not in IGNORED and moved(k, val)}
    changed = bool(moved_keys - SOFT) or (bool(moved_keys) and now - last >= SOFT_COALESCE)
    if not changed and now - last < refresh_of(bodies.node_id(node), refresh):
        return None, False
    new["lastHeartbeat"] = bodies.format_time(now)
    return new, not changed
