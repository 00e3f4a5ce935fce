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

import asyncio
import base64
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from web4ai.api.routing import NodeAccess, RouteSpec
from web4ai.core.keys import KeyRecord, parse_entry
from web4ai.k8s.apikeys import SECRET_NAME, digest, entry, new_key, read_entries, store_entry
from web4ai.k8s.client import ApiClient
from web4ai.k8s.secretwatch import SecretWatch

log = logging.getLogger(__name__)

PRINCIPAL_KEY = "web4ai.principal"  # the request key of the authenticated Principal

RELOAD_ON_MISS = 1.0  # seconds between re-reads of the key Secret on unknown keys
MISS_WAIT = 1.0  # seconds a miss between re-reads waits for the watch's next change
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
    expires_at: float | None = None  # refused from then on

    def sees_node(self, node_id: str | None) -> bool:
        """Whether a message about ``node_id`` (None: the whole network, or a task
        not yet on a node) is for this principal, as REST would show it."""
        if self.role != "node":
            return True
        return node_id is not None and node_id == self.node_id


ANONYMOUS = Principal("anonymous", "admin")  # when api_key_required is false


def principal_of(record: KeyRecord) -> Principal:
    return Principal(record.id, record.role, record.node_id, record.capabilities, record.expires_at)


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
    """The keys every request is checked against: the key Secret, kept current by a
    watch (``run``; a revoked key is refused within a moment on every replica) and
    re-read on a miss. A key past its ``expires_at`` is refused at once. Each use is
    noted in memory (``used``); ``web4ai.api.keys`` writes it out, coarsely."""

    api: ApiClient
    namespace: str
    secret_name: str = SECRET_NAME
    clock: Callable[[], float] = time.time
    by_digest: dict[str, Principal] = field(default_factory=dict)
    records: dict[str, KeyRecord] = field(default_factory=dict)  # by id (the entry's name)
    used: dict[str, float] = field(default_factory=dict)  # id -> last use seen here
    reloaded_at: float = float("-inf")
    loaded: asyncio.Event = field(default_factory=asyncio.Event)  # set by the next load

    def authenticate(self, key: str) -> Principal | None:
        found = self.by_digest.get(digest(key))
        if found is None:
            return None
        now = self.clock()
        if found.expires_at is not None and now >= found.expires_at:
            return None
        self.used[found.name] = now
        return found

    def refusal(self, key: str | None) -> str:
        """What a refused key is told: expired, or simply not valid."""
        found = self.by_digest.get(digest(key)) if key else None
        if found is not None and found.expires_at is not None:
            return "API key expired"
        return "Invalid or missing API key"

    async def authenticate_fresh(self, key: str, now: float) -> Principal | None:
        """``authenticate``, re-reading the Secret (at most once a second) on a miss:
        a key minted a moment ago (a discovered or joined node's, maybe on another
        replica) works at once. While a re-read is not due, a miss waits up to
        ``MISS_WAIT`` for the watch to bring the next change instead."""
        found = self.authenticate(key)
        if found is not None:
            return found
        if now - self.reloaded_at >= RELOAD_ON_MISS:
            self.reloaded_at = now
            try:
                await self.reload()
            except Exception as exc:
                log.warning("could not reload API keys: %s", exc)
            return self.authenticate(key)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.loaded.wait(), MISS_WAIT)
        return self.authenticate(key)

    async def _read(self) -> dict[str, str] | None:
        return await read_entries(self.api, self.namespace, self.secret_name)

    async def reload(self) -> None:
        self.load(await self._read() or {})

    def load(self, data: dict[str, str]) -> None:
        """Take the key Secret's entries (name -> base64 JSON document) as the keys."""
        records: dict[str, KeyRecord] = {}
        for name, raw in data.items():
            try:
                doc: dict[str, Any] = json.loads(base64.b64decode(raw))
                records[name] = parse_entry(name, doc)
            except (ValueError, KeyError, TypeError, AttributeError):
                log.warning("ignoring malformed API key entry %s", name)
        self.records = records
        self.by_digest = {r.sha256: principal_of(r) for r in records.values()}
        loaded, self.loaded = self.loaded, asyncio.Event()
        loaded.set()  # wakes the misses waiting for this change

    def apply(self, record: KeyRecord) -> None:
        """A key this replica just stored: usable here before the watch brings it."""
        self.records[record.id] = record
        self.by_digest[record.sha256] = principal_of(record)

    def still_valid(self, principal: Principal, now: float) -> bool:
        """Whether a principal authenticated earlier still holds (not revoked, expired
        or changed): what an open WebSocket session is checked against."""
        record = self.records.get(principal.name)
        return (
            record is not None
            and not record.expired(now)
            and (record.role, record.node_id) == (principal.role, principal.node_id)
        )

    def forget(self, key_id: str) -> None:
        """A key this replica just revoked: refused here before the watch says so."""
        record = self.records.pop(key_id, None)
        if record is not None:
            self.by_digest.pop(record.sha256, None)
        self.used.pop(key_id, None)

    def watch(self) -> SecretWatch:
        """The watch that keeps the keys current (every replica runs one)."""
        return SecretWatch(self.api, self.namespace, self.secret_name, self.load)

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
            if digest(env_key) not in self.by_digest:
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
    if route.admin:
        return "only admin keys may do this"
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
