"""Auto-discovery: with ``orchestrator.auto_discovery`` on, probe every
``network.discovery_endpoints`` URL each heartbeat interval; a reference node
found there and not registered is sent a join (the API's URL and a freshly minted
node-scoped key, stored hashed in the key Secret). Results go to the
Web4AIOrchestrator's ``status.discovery`` (shown by /status and, as
``node_discovered``, on the WebSocket) and to Events.

Probes run in a background task of the leader, so they never hold up a
scheduling pass. Discovery endpoints are set by an admin: private addresses are
allowed; probes use short timeouts, bounded responses and no redirects.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from web4ai.core import bodies
from web4ai.core.discovery import Found, Probe, classify
from web4ai.core.resources import ORCHESTRATORS
from web4ai.k8s.apikeys import entry, new_key, store_entry
from web4ai.k8s.cache import ClusterState
from web4ai.k8s.errors import RACED
from web4ai.k8s.writing import Writer

log = logging.getLogger(__name__)

PROBE_TIMEOUT = 5.0
MAX_DOCUMENT = 64 * 1024


@dataclass
class Discovery:
    state: ClusterState
    writer: Writer
    clock: Callable[[], float]
    api_url: str | None
    last: dict[str, Probe] = field(default_factory=dict)
    _round: asyncio.Task[None] | None = None
    _started: float = float("-inf")
    _session: aiohttp.ClientSession | None = None

    def tick(self) -> None:
        """Start a round when one is due and none is running (never awaits probes)."""
        settings = self.state.settings()
        if not settings.auto_discovery or not settings.discovery_endpoints:
            return
        if self._round is not None and not self._round.done():
            return
        now = self.clock()
        if now - self._started < settings.heartbeat_interval:
            return
        self._started = now
        self._round = asyncio.create_task(self.run_round(list(settings.discovery_endpoints)))

    async def close(self) -> None:
        if self._round is not None:
            self._round.cancel()
            await asyncio.gather(self._round, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    async def run_round(self, endpoints: list[str]) -> None:
        try:
            probes = await asyncio.gather(*(self.probe(e) for e in endpoints))
            await self.record(probes)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("discovery round failed")

    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=PROBE_TIMEOUT)
            )
        return self._session

    async def _fetch(self, method: str, url: str, body: Any = None) -> tuple[int, Any]:
        async with self.session().request(method, url, json=body, allow_redirects=False) as resp:
            raw = await resp.content.read(MAX_DOCUMENT + 1)
            if len(raw) > MAX_DOCUMENT:
                return resp.status, None
            try:
                return resp.status, json.loads(raw)
            except (UnicodeDecodeError, json.JSONDecodeError):
                return resp.status, None

    async def probe(self, endpoint: str) -> Probe:
        base = endpoint.rstrip("/")
        registered = {bodies.node_id(b) for b in self.state.nodes_by_name.values()}
        try:
            status, doc = await self._fetch("GET", f"{base}/web4ai/node")
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            return Probe(endpoint, Found.UNREACHABLE, message=f"{type(exc).__name__}: {exc}")
        found = classify(endpoint, status, doc, registered)
        if found.found is not Found.JOINED or found.node_id is None:
            return found
        if not self.api_url:
            return Probe(
                endpoint, Found.UNREACHABLE, found.node_id, "the operator has no --api-url to send"
            )
        key = new_key()
        await store_entry(
            self.writer.api,
            self.writer.namespace,
            f"discovered-{found.node_id}",
            entry("node", found.node_id, key),
        )
        try:
            status, _ = await self._fetch(
                "POST", f"{base}/web4ai/join", {"orchestrator_url": self.api_url, "api_key": key}
            )
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return Probe(endpoint, Found.UNREACHABLE, found.node_id, f"join failed: {exc}")
        if status != 202:
            return Probe(endpoint, Found.JOINING, found.node_id, f"join answered HTTP {status}")
        log.info(
            "discovered node %s at %s; sent a join",
            found.node_id,
            endpoint,
            extra={"node_id": found.node_id},
        )
        return found

    async def record(self, probes: list[Probe]) -> None:
        """Events for what changed; the round into the orchestrator's status."""
        orch = self.state.orchestrator()
        if orch is None:
            return
        for p in probes:
            before = self.last.get(p.endpoint)
            if before is not None and (before.found, before.node_id) == (p.found, p.node_id):
                continue
            if p.found is Found.JOINED:
                await self.writer.event(
                    orch, "NodeDiscovered", f"{p.endpoint}: node {p.node_id} sent a join"
                )
            elif p.found.problem:
                await self.writer.event(
                    orch,
                    "DiscoveryFailed",
                    f"{p.endpoint}: {p.found.value}: {p.message}",
                    warning=True,
                )
        self.last = {p.endpoint: p for p in probes}
        when = bodies.format_time(self.clock())
        patch = {"status": {"discovery": [p.as_status(when) for p in probes][:256]}}
        try:
            result = await self.writer.patch(
                ORCHESTRATORS, bodies.ORCHESTRATOR_NAME, patch, status=True
            )
        except RACED:
            return
        self.state.record_orchestrator(result)
