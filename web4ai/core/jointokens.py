"""Join tokens: short-lived bootstrap credentials that let a node obtain its own
node-scoped key (``POST /api/v1/join``), in the shape of Kubernetes' bootstrap tokens
(``[a-z0-9]{6}.[a-z0-9]{16}``: a public id and a secret). Pure: no I/O.

The token Secret (``web4ai-join-tokens``) maps a token id to a JSON document::

    {"sha256": <hex digest of the whole token>, "uses": 100, "used": 3,
     "expires_at": "...", "capabilities": [...], "node_prefix": "gpu-",
     "description": "...", "created_at": "...", "created_by": "<admin key id>",
     "revoked_at": "...", "revoked_by": "..."}

A revoked token stays in the Secret so that a node presenting it hears why it fails.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from web4ai.core.keys import iso, parse_iso

TOKEN = re.compile(r"^([a-z0-9]{6})\.([a-z0-9]{16})$")
TOKEN_ID = re.compile(r"^[a-z0-9]{6}$")
ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
DEFAULT_TTL = 24 * 3600.0
MAX_TTL = 7 * 24 * 3600.0
DEFAULT_USES = 1
MAX_USES = 100_000
DEFAULT_NODE_PREFIX = "node-"
NODE_SUFFIX_LEN = 8


def split_token(token: str) -> tuple[str, str] | None:
    """(id, secret) of a well-formed token, None for anything else."""
    match = TOKEN.match(token)
    return (match.group(1), match.group(2)) if match else None


@dataclass(frozen=True)
class TokenRecord:
    id: str
    sha256: str
    uses: int
    expires_at: float
    used: int = 0
    capabilities: tuple[str, ...] | None = None
    node_prefix: str | None = None
    description: str | None = None
    created_at: float | None = None
    created_by: str | None = None
    revoked_at: float | None = None
    revoked_by: str | None = None

    def state(self, now: float) -> str:
        """``revoked``, ``expired``, ``used_up`` or ``active`` (in that precedence)."""
        if self.revoked_at is not None:
            return "revoked"
        if now >= self.expires_at:
            return "expired"
        if self.used >= self.uses:
            return "used_up"
        return "active"

    def doc(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "sha256": self.sha256,
            "uses": self.uses,
            "used": self.used,
            "expires_at": iso(self.expires_at),
        }
        if self.capabilities is not None:
            out["capabilities"] = list(self.capabilities)
        for name in ("node_prefix", "description", "created_by", "revoked_by"):
            if getattr(self, name):
                out[name] = getattr(self, name)
        for name in ("created_at", "revoked_at"):
            if getattr(self, name) is not None:
                out[name] = iso(getattr(self, name))
        return out

    def listing(self, now: float) -> dict[str, Any]:
        """The token as ``GET /join-tokens`` shows it: never the secret or its digest."""
        return {
            "id": self.id,
            "state": self.state(now),
            "uses": self.uses,
            "used": self.used,
            "remaining": max(0, self.uses - self.used),
            "capabilities": list(self.capabilities) if self.capabilities is not None else None,
            "node_prefix": self.node_prefix,
            "description": self.description,
            "created_at": iso(self.created_at),
            "created_by": self.created_by,
            "expires_at": iso(self.expires_at),
            "revoked_at": iso(self.revoked_at),
            "revoked_by": self.revoked_by,
        }

    def one_used(self) -> TokenRecord:
        return replace(self, used=self.used + 1)

    def one_returned(self) -> TokenRecord:
        return replace(self, used=max(0, self.used - 1))

    def revoked(self, now: float, by: str) -> TokenRecord:
        return replace(self, revoked_at=now, revoked_by=by)


def parse_token_entry(token_id: str, doc: Mapping[str, Any]) -> TokenRecord:
    """A token Secret entry as a record; raises ValueError when malformed."""
    sha = doc.get("sha256")
    if not isinstance(sha, str) or not sha:
        raise ValueError("no sha256")
    caps = doc.get("capabilities")
    if caps is not None and not isinstance(caps, list):
        raise ValueError("capabilities must be a list")
    expires = parse_iso(doc.get("expires_at"))
    if expires is None:
        raise ValueError("no expires_at")
    return TokenRecord(
        id=token_id,
        sha256=sha,
        uses=int(doc.get("uses", DEFAULT_USES)),
        used=int(doc.get("used", 0)),
        expires_at=expires,
        capabilities=tuple(str(c) for c in caps) if caps is not None else None,
        node_prefix=str(doc["node_prefix"]) if doc.get("node_prefix") else None,
        description=str(doc["description"]) if doc.get("description") else None,
        created_at=parse_iso(doc.get("created_at")),
        created_by=str(doc["created_by"]) if doc.get("created_by") else None,
        revoked_at=parse_iso(doc.get("revoked_at")),
        revoked_by=str(doc["revoked_by"]) if doc.get("revoked_by") else None,
    )


REFUSALS = {
    "malformed": "malformed join token: expected [a-z0-9]{6}.[a-z0-9]{16}",
    "unknown": "unknown join token",
    "revoked": "join token revoked",
    "expired": "join token expired",
    "used_up": "join token used up",
}


def refusal(record: TokenRecord | None, digest_matches: bool, now: float) -> str | None:
    """Which of ``REFUSALS`` a presented token gets (its record, if its id is known,
    and whether its secret is right), or None when it may be used once more."""
    if record is None or not digest_matches:
        return "unknown"
    state = record.state(now)
    return None if state == "active" else state


def join_node_id(record: TokenRecord, requested: str | None, suffix: str) -> tuple[str, str | None]:
    """(the joining node's id, why it may not have it or None). Without a requested id
    the node is named ``<prefix><suffix>``; a requested id must carry the prefix."""
    prefix = record.node_prefix or ""
    if requested is None:
        return (prefix or DEFAULT_NODE_PREFIX) + suffix, None
    if not requested.startswith(prefix):
        return requested, f"this join token admits only node ids starting with {prefix!r}"
    return requested, None
