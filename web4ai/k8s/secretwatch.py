"""List and watch one Secret by name (a field selector, which RBAC can restrict with
``resourceNames``), handing its ``data`` to a callback on every change: how every API
replica learns of a created or revoked key within a moment."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from kubernetes_asyncio import client

from web4ai.k8s.listwatch import checked, read_json, watch_events

log = logging.getLogger(__name__)

OnData = Callable[[dict[str, str]], None]  # the Secret's data ({} when it is gone)


@dataclass
class SecretWatch:
    api: client.ApiClient
    namespace: str
    name: str
    on_data: OnData
    watch_timeout: int = 300

    async def _request(self, **kwargs: Any) -> Any:
        return await checked(
            client.CoreV1Api(self.api).list_namespaced_secret(
                self.namespace,
                field_selector=f"metadata.name={self.name}",
                _preload_content=False,
                **kwargs,
            )
        )

    async def list(self) -> str:
        result = await read_json(await self._request())
        items = result.get("items") or []
        self.on_data(dict((items[0].get("data") or {}) if items else {}))
        return str(result["metadata"]["resourceVersion"])

    async def watch(self, resource_version: str) -> None:
        response = await self._request(
            watch=True, resource_version=resource_version, timeout_seconds=self.watch_timeout
        )
        async with aclosing(watch_events(response)) as events:
            async for kind, obj in events:
                if kind == "DELETED":
                    self.on_data({})
                elif kind in ("ADDED", "MODIFIED"):
                    self.on_data(dict(obj.get("data") or {}))

    async def run(self) -> None:
        """List, then watch, until cancelled; every (re)start lists again, so nothing
        missed while disconnected stays missed."""
        backoff = 0.2
        while True:
            try:
                await self.watch(await self.list())
                backoff = 0.2
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "watch of Secret %s failed (%s); retrying in %.1fs", self.name, exc, backoff
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
