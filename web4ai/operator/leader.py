"""Leader election on a coordination.k8s.io Lease, as client-go does it.

Every replica watches and keeps its caches warm; only the holder of the
Lease writes. A holder that cannot renew within the lease duration steps
down before another replica may take over, and every write is guarded by
resourceVersion anyway, so a task is never bound twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from web4ai.core.bodies import format_time, parse_time
from web4ai.core.election import Observation
from web4ai.core.objects import lease_object
from web4ai.core.resources import LEASES
from web4ai.k8s.client import ApiClient
from web4ai.k8s.errors import Conflict
from web4ai.k8s.writing import Writer

log = logging.getLogger(__name__)


@dataclass
class LeaderElector:
    api: ApiClient
    namespace: str
    identity: str
    clock: Callable[[], float]
    name: str = "web4ai-operator"
    lease_duration: float = 15.0
    retry_period: float = 2.0
    is_leader: bool = False
    term: int = 0  # +1 each time we take the lease (not when we renew it)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    _renewed_at: float = 0.0
    _seen: Observation = field(default_factory=Observation)

    def leading(self) -> bool:
        """True while we hold the lease and renewed it within its duration."""
        # step down before anyone else may take over (client-go: renewDeadline)
        if self.is_leader and self.clock() - self._renewed_at >= self.lease_duration * 2 / 3:
            self._set(False)
        return self.is_leader

    def _set(self, leader: bool) -> None:
        if leader != self.is_leader:
            log.info("%s %s leadership", self.identity, "acquired" if leader else "lost")
            self.is_leader = leader
            self.changed.set()

    def _spec(self, now: float, acquire: float, transitions: int) -> dict[str, object]:
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": max(1, round(self.lease_duration)),
            "acquireTime": format_time(acquire),
            "renewTime": format_time(now),
            "leaseTransitions": transitions,
        }

    def _leases(self) -> Writer:
        return Writer(self.api, self.namespace)

    async def try_acquire_or_renew(self) -> bool:
        leases = self._leases()
        now = self.clock()
        body = await leases.get(LEASES, self.name)
        if body is None:
            lease = lease_object(self.name, self._spec(now, now, 0))
            try:
                await leases.create(LEASES, lease)
            except Conflict:
                return False
            self._renewed_at = now
            self.term += 1
            return True
        spec = body.get("spec") or {}
        holder = spec.get("holderIdentity")
        duration = float(spec.get("leaseDurationSeconds") or self.lease_duration)
        ours = holder == self.identity
        # judged by when *we* saw the record change (client-go's observedTime), not by
        # the renewTime another machine's clock wrote
        self._seen.observe(
            (
                holder,
                spec.get("renewTime"),
                spec.get("leaseTransitions"),
                body["metadata"].get("resourceVersion"),
            ),
            now,
        )
        if not ours and not self._seen.may_take(holder, now, duration, grace=2 * self.retry_period):
            return False  # held by a live leader, or released and a standby goes first
        transitions = int(spec.get("leaseTransitions") or 0) + (0 if ours else 1)
        acquire = parse_time(spec.get("acquireTime")) if ours else now
        body["spec"] = self._spec(now, acquire or now, transitions)
        try:
            await leases.replace(LEASES, self.name, body)
        except Conflict:
            return False
        self._renewed_at = now
        if not ours:
            self.term += 1
        return True

    async def run(self) -> None:
        while True:
            try:
                self._set(await self.try_acquire_or_renew())
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("leader election: %s", exc)
            self.leading()
            await asyncio.sleep(self.retry_period)

    async def release(self) -> None:
        """Give the lease up on a clean shutdown so a standby takes over at once."""
        if not self.is_leader:
            return
        self._set(False)
        leases = self._leases()
        try:
            body = await leases.get(LEASES, self.name)
            if body is None:
                raise LookupError(f"lease {self.name} not found")
            if (body.get("spec") or {}).get("holderIdentity") == self.identity:
                body["spec"]["holderIdentity"] = ""
                body["spec"]["renewTime"] = format_time(0)
                await leases.replace(LEASES, self.name, body)
        except Exception as exc:
            log.warning("could not release the leader lease: %s", exc)
