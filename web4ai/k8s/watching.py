"""The API's informers: a ``Store`` fed by its own list + watch (relist on 410 Gone).

An informer keeps an in-memory store of raw bodies by object name and calls
``on_change`` for every change, so the API answers from memory. ``synced`` is set
once the first list is in the store. The operator does not use these: Kopf feeds
its nodes, Leases and orchestrator, and its Kopf daemon runs a ``ListWatch`` of the
tasks (``web4ai.operator.wiring``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from web4ai.k8s.listwatch import Gone, ListWatch
from web4ai.k8s.store import LEASES, Body, OnChange, Resource, Store, newer

__all__ = ["LEASES", "Body", "Gone", "Informer", "OnChange", "Resource", "Store", "newer"]


@dataclass
class Informer(Store):
    api: Any
    resource: Resource
    namespace: str
    label_selector: str | None = None
    watch_timeout: int = 300

    async def run(self) -> None:
        """List and watch until cancelled; errors back off and resume."""
        await ListWatch(
            self.api,
            self.resource,
            self.namespace,
            self,
            label_selector=self.label_selector,
            watch_timeout=self.watch_timeout,
        ).run()
