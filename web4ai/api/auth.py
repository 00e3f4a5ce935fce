"""API keys (Bearer), stored hashed in a Kubernetes Secret, with roles:

* ``admin``: everything;
* ``read-only``: GET requests and the WebSocket;
* ``node``: only its own node and the tasks assigned to it (as Kubernetes'
  NodeRestriction does for kubelets).

The Secret (default ``web4ai-api-keys``) maps a key name to a JSON document
``{"sha256": <hex digest of the key>, "role": ..., "node_id": ..., "capabilities": [...]}``;
keys themselves are never stored. ``capabilities`` (optional, node keys) pins what
that node may claim at registration.

A key arrives as ``Authorization: Bearer <key>``; WebSocket clients that cannot set
headers (browsers) may instead offer the subprotocol
``base64url.bearer.authorization.web4ai.io.<base64url key>`` next to the real one,
``web4ai.v1``, which is the only one the server echoes. Keys in URLs are never read.
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from web4ai.api.routing import NodeAccess, RouteSpec
from web4ai.k8s.apikeys import SECRET_NAME, digest, entry, new_key, read_entries, store_entry
from web4ai.k8s.client import ApiClient

log = logging.getLogger(__name__)

PRINCIPAL_KEY = "web4ai.principal"  # the request key of the authenticated Principal

ROLES = ("admin", "read-only", "node")
RELOAD_ON_MISS = 1.0  # seconds between re-reads of the key Secret on unknown keys
# A browser's WebSocket cannot set headers: it offers its key as a subprotocol entry
# (the Kubernetes API server's base64url.bearer.authorization.k8s.io. convention)
# next to the real subprotocol, the only one echoed back.
SUBPROTOCOL = "web4ai.v1"
BEARER_PROTOCOL = "base64url.bearer.authorization.web4ai.io."  # + base64url(key)


@dataclass(frozen=True)
class Principal:
    name: str
    role: str
    node_id: str | None = None
    capabilities: tuple[str, ...] | None = None  # node keys: the capabilities it may claim

    def sees_node(self, node_id: str | None) -> bool:
        """Whether a message about ``node_id`` (None: the whole network, or a task
        not yet on a node) is for this principal, as REST would show it."""
        if self.role != "node":
            return True
        return node_id is not None and node_id == self.node_id


ANONYMOUS = Principal("anonymous", "admin")  # when api_key_required is false


def bearer_key(authorization: str | None) -> str | None:
    """The key of an ``Authorization: Bearer`` header, or None."""
    scheme, _, key = (authorization or "").partition(" ")
    return key.strip() if scheme.lower() == "bearer" and key.strip() else None


def split_protocols(header: str | None) -> tuple[str | None, list[str]]:
    """(the key of a bearer subprotocol entry, the real subprotocols offered) of a
    ``Sec-WebSocket-Protocol`` header. An undecodable entry yields the key "" (invalid)."""
    key: str | None = None
    real: list[str] = []
    for item in (header or "").split(","):
        proto = item.strip()
        if not proto:
            continue
        if proto.startswith(BEARER_PROTOCOL):
            encoded = proto[len(BEARER_PROTOCOL) :]
            try:
                key = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
            except (ValueError, UnicodeDecodeError):
                key = ""
        else:
            real.append(proto)
    return key, real


def bearer_protocol(key: str) -> str:
    """The subprotocol entry that carries ``key`` (what a browser client offers)."""
    return BEARER_PROTOCOL + base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


@dataclass
class KeyStore:
    api: ApiClient
    namespace: str
    secret_name: str = SECRET_NAME
    by_digest: dict[str, Principal] = field(default_factory=dict)
    reloaded_at: float = float("-inf")

    def authenticate(self, key: str) -> Principal | None:
        return self.by_digest.get(digest(key))

    async def authenticate_fresh(self, key: str, now: float) -> Principal | None:
        """``authenticate``, re-reading the Secret (at most once a second) on a miss:
        a key minted a moment ago (a discovered node's) works at once."""
        found = self.authenticate(key)
        if found is None and now - self.reloaded_at >= RELOAD_ON_MISS:
            self.reloaded_at = now
            try:
                await self.reload()
            except Exception as exc:
                log.warning("could not reload API keys: %s", exc)
            found = self.authenticate(key)
        return found

    async def _read(self) -> dict[str, str] | None:
        return await read_entries(self.api, self.namespace, self.secret_name)

    async def reload(self) -> None:
        data = await self._read() or {}
        keys: dict[str, Principal] = {}
        for name, raw in data.items():
            try:
                doc: dict[str, Any] = json.loads(base64.b64decode(raw))
                if doc.get("role") in ROLES:
                    caps = doc.get("capabilities")
                    keys[doc["sha256"]] = Principal(
                        name,
                        doc["role"],
                        doc.get("node_id"),
                        tuple(str(c) for c in caps) if isinstance(caps, list) else None,
                    )
            except (ValueError, KeyError, TypeError):
                log.warning("ignoring malformed API key entry %s", name)
        self.by_digest = keys

    async def add(
        self,
        name: str,
        role: str,
        key: str,
        node_id: str | None = None,
        capabilities: list[str] | None = None,
    ) -> None:
        """Store a key's hash under ``name`` (creating the Secret if needed)."""
        await store_entry(
            self.api,
            self.namespace,
            name,
            entry(role, node_id, key, capabilities),
            self.secret_name,
        )
        await self.reload()

    async def ensure_admin(self, env_key: str | None) -> str | None:
        """Make sure an admin key exists. Returns a newly generated key to print, if any."""
        await self.reload()
        if env_key:
            if self.authenticate(env_key) is None:
                await self.add("admin-env", "admin", env_key)
            return None
        if any(p.role == "admin" for p in self.by_digest.values()):
            return None
        key = new_key()
        await self.add("admin", "admin", key)
        return key


def authorize(
    principal: Principal, method: str, route: RouteSpec, params: dict[str, str]
) -> str | None:
    """Why ``principal`` may not do this, or None when it may; ``route`` is what the
    route declares (``web4ai.api.routing``)."""
    if principal.role == "admin":
        return None
    if principal.role == "read-only":
        return None if method in ("GET", "HEAD") else "read-only keys can only read"
    # node keys: their own node, and the node protocol (checked per task in the handler);
    # never HEAD (a route declares its own method only)
    if method != "HEAD" and (
        route.node is NodeAccess.ANY
        or (route.node is NodeAccess.OWN and params.get("node_id") == principal.node_id)
    ):
        return None
    return f"a node key may act only on node {principal.node_id} and its tasks"
