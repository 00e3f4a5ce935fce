"""``web4ai node --listen HOST:PORT``: a small HTTP endpoint that serves the node's
health and its registration document, and takes the orchestrator's join (its URL
and a node-scoped key) when auto-discovery finds the node.

* ``GET /health`` -> ``{"status": "healthy", "node_id", "joined"}``
* ``GET /web4ai/node`` -> ``{"kind": "web4ai-node", "node_id", ..., "joined"}``
* ``POST /web4ai/join`` ``{"orchestrator_url", "api_key"}`` -> 202 once; 409 after.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

KIND = "web4ai-node"
MAX_JOIN_BYTES = 16 * 1024


@dataclass(frozen=True)
class Join:
    orchestrator_url: str
    api_key: str | None


@dataclass
class Listener:
    """Serves the registration document; ``joined`` resolves with the first join."""

    document: dict[str, Any]
    joined: asyncio.Future[Join] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_JOIN_BYTES)
        app.router.add_get("/health", self.health)
        app.router.add_get("/web4ai/node", self.registration)
        app.router.add_post("/web4ai/join", self.join)
        return app

    def _state(self) -> dict[str, Any]:
        return {"node_id": self.document["node_id"], "joined": self.joined.done()}

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "healthy", **self._state()})

    async def registration(self, request: web.Request) -> web.Response:
        return web.json_response({"kind": KIND, **self.document, **self._state()})

    async def join(self, request: web.Request) -> web.Response:
        if self.joined.done():
            return web.json_response(
                {"success": False, "error": "already joined an orchestrator"}, status=409
            )
        try:
            body = await request.json()
            url = body["orchestrator_url"]
            key = body.get("api_key")
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise ValueError("orchestrator_url must be an http(s) URL")
            if key is not None and not isinstance(key, str):
                raise ValueError("api_key must be a string")
        except (ValueError, KeyError, TypeError) as exc:
            return web.json_response({"success": False, "error": str(exc)}, status=400)
        self.joined.set_result(Join(url.rstrip("/"), key))
        log.info("joined the orchestrator at %s", url)
        return web.json_response({"success": True, "node_id": self.document["node_id"]}, status=202)


async def start_listener(listener: Listener, listen: str) -> web.AppRunner:
    host, _, port = listen.rpartition(":")
    runner = web.AppRunner(listener.app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host or "127.0.0.1", int(port)).start()
    log.info("listening on http://%s:%s for discovery", host or "127.0.0.1", port)
    return runner
