"""API keys as the key Secret stores them, and as the keys API shows them. Pure: no I/O.

An entry of the Secret (``web4ai-api-keys``) maps an id (the Secret's data key; the id
``DELETE /keys/{id}`` takes) to a JSON document::

    {"sha256": <hex digest of the key>, "role": "admin" | "read-only" | "node",
     "node_id": ..., "capabilities": [...],            # node keys; capabilities optional
     "expires_at": "2026-12-31T00:00:00Z", "description": "...",
     "created_at": "...", "created_by": "<id of the admin key that made it>"}

Only ``sha256`` and ``role`` are required, so an entry written by hand as the README
shows is a key like any other. The key itself is never stored.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ROLES = ("admin", "read-only", "node")
KEY_ID = re.compile(r"^[-._a-zA-Z0-9]{1,253}$")  # what a Secret's data key may be
DESCRIPTION_MAX = 256


def iso(ts: float | None) -> str | None:
    """A Unix time as RFC 3339 UTC (second precision), None for None."""
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


LAST_TIME = 253402300800.0  # 10000-01-01T00:00:00Z: iso() renders every time before it


def parse_iso(value: Any) -> float | None:
    """An RFC 3339 time (or Unix seconds) as Unix seconds; None for None. Raises
    ValueError for anything else; a time without a zone is UTC."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("not a time")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        seconds = parsed.timestamp()
    else:
        raise ValueError("not a time")
    if not 0.0 <= seconds < LAST_TIME:  # also refuses NaN
        raise ValueError("out of range: 1970 to 9999")
    return seconds


@dataclass(frozen=True)
class KeyRecord:
    id: str
    sha256: str
    role: str
    node_id: str | None = None
    capabilities: tuple[str, ...] | None = None
    expires_at: float | None = None
    description: str | None = None
    created_at: float | None = None
    created_by: str | None = None

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def doc(self) -> dict[str, Any]:
        """The Secret entry's JSON document (the digest, never the key)."""
        out: dict[str, Any] = {"sha256": self.sha256, "role": self.role}
        if self.node_id:
            out["node_id"] = self.node_id
        if self.capabilities is not None:
            out["capabilities"] = list(self.capabilities)
        for name, ts in (("expires_at", self.expires_at), ("created_at", self.created_at)):
            if ts is not None:
                out[name] = iso(ts)
        if self.description:
            out["description"] = self.description
        if self.created_by:
            out["created_by"] = self.created_by
        return out

    def listing(self, last_used: float | None, now: float) -> dict[str, Any]:
        """The key as ``GET /keys`` shows it: everything but the digest."""
        return {
            "id": self.id,
            "role": self.role,
            "node_id": self.node_id,
            "capabilities": list(self.capabilities) if self.capabilities is not None else None,
            "description": self.description,
            "created_at": iso(self.created_at),
            "created_by": self.created_by,
            "expires_at": iso(self.expires_at),
            "expired": self.expired(now),
            "last_used": iso(last_used),
        }


def parse_entry(key_id: str, doc: Mapping[str, Any]) -> KeyRecord:
    """A Secret entry's document as a record; raises ValueError when it is not a key
    (no digest, an unknown role, a field of the wrong type)."""
    role = doc.get("role")
    sha = doc.get("sha256")
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    if not isinstance(sha, str) or not sha:
        raise ValueError("no sha256")
    caps = doc.get("capabilities")
    if caps is not None and not isinstance(caps, list):
        raise ValueError("capabilities must be a list")
    node_id = doc.get("node_id")
    description = doc.get("description")
    created_by = doc.get("created_by")
    return KeyRecord(
        id=key_id,
        sha256=sha,
        role=str(role),
        node_id=str(node_id) if node_id else None,
        capabilities=tuple(str(c) for c in caps) if caps is not None else None,
        expires_at=parse_iso(doc.get("expires_at")),
        description=str(description) if description else None,
        created_at=parse_iso(doc.get("created_at")),
        created_by=str(created_by) if created_by else None,
    )


def admins_left(records: Mapping[str, KeyRecord], without: str, now: float) -> int:
    """How many usable admin keys remain once ``without`` is gone."""
    return sum(
        1 for r in records.values() if r.id != without and r.role == "admin" and not r.expired(now)
    )


def usage_due(used: float, recorded: float | None, every: float) -> bool:
    """Whether a key used at ``used`` needs its stored last use (``recorded``) moved:
    last use is coarse, written at most once per ``every`` seconds per key."""
    return recorded is None or used - recorded >= every
