"""The dashboard in a real browser: Playwright (pinned) driving Debian's chromium,
against the real stack with reference nodes. Without chromium the tests skip with a
reason; with WEB4AI_REQUIRE_BROWSER=1 (CI) they fail instead."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import ADMIN_KEY, Stack
from tests.e2e.conftest import inference_server, nodes  # noqa: F401  (fixtures reused)
from tests.integration.helpers import REPO

SHOTS = REPO / "screenshots"  # gitignored
REQUIRE = os.environ.get("WEB4AI_REQUIRE_BROWSER") == "1"


def chromium_path() -> str | None:
    """Debian's chromium, or the one WEB4AI_CHROMIUM names."""
    path = os.environ.get("WEB4AI_CHROMIUM") or shutil.which("chromium")
    return path if path and os.path.exists(path) else None


def unavailable(reason: str) -> None:
    if REQUIRE:
        pytest.fail(f"browser tests cannot run: {reason} (WEB4AI_REQUIRE_BROWSER=1)")
    pytest.skip(f"browser tests skipped: {reason}")


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    path = chromium_path()
    if path is None:
        unavailable(
            "chromium is not installed "
            "(hack/install-browser.sh, or as root: apt-get install chromium)"
        )
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        unavailable("playwright is not installed (make venv)")
    async with async_playwright() as pw:
        b = await pw.chromium.launch(
            executable_path=path, chromium_sandbox=False, args=["--disable-gpu"]
        )
        try:
            yield b
        finally:
            await b.close()


@dataclass
class Dash:
    """One browser context on the dashboard, recording requests and console errors."""

    page: Any
    origin: str
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    async def open(self, path: str = "/") -> None:
        await self.page.goto(self.origin + path)

    async def sign_in(self, key: str = ADMIN_KEY) -> None:
        await self.page.fill("#signin-key", key)
        await self.page.click("#signin-form button[type=submit]")

    async def go(self, view: str) -> None:
        await self.page.click(f'#tabs a[data-view="{view}"]')
        await self.page.wait_for_selector(f"#view-{view}:not([hidden])")

    async def confirm(self) -> None:
        await self.page.click("#confirm-ok")

    def foreign(self) -> list[str]:
        """Requests that left the origin (http(s) and ws(s) alike)."""
        host = urlsplit(self.origin).netloc
        return [
            u for u in self.requests if not u.startswith("data:") and urlsplit(u).netloc != host
        ]


@pytest.fixture
async def dash(browser: Any, stack: Stack) -> AsyncIterator[Dash]:
    origin = stack.api.base.removesuffix("/api/v1")
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    d = Dash(page, origin)
    page.on("request", lambda r: d.requests.append(r.url))
    page.on("websocket", lambda ws: d.requests.append(ws.url))
    page.on(
        "console",
        lambda m: d.errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
    )
    page.on("pageerror", lambda e: d.errors.append(f"page error: {e}"))
    try:
        yield d
    finally:
        await context.close()
    assert d.foreign() == [], f"requests left the origin: {d.foreign()}"
    assert d.errors == [], "console errors:\n" + "\n".join(d.errors)


def shot_path(name: str) -> Path:
    SHOTS.mkdir(exist_ok=True)
    return SHOTS / f"{name}.png"


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


@pytest.fixture
async def prefixed(stack: Stack) -> AsyncIterator[str]:
    """The API behind a path prefix, as an ingress that strips ``/web4ai`` serves it:
    a small real reverse proxy (HTTP and WebSocket). Yields the page's URL."""
    import aiohttp
    from aiohttp import web

    upstream = stack.api.base.removesuffix("/api/v1")
    session = aiohttp.ClientSession(auto_decompress=False)
    hop = {"host", "connection", "upgrade", "transfer-encoding", "keep-alive"}

    async def forward(request: web.Request) -> web.StreamResponse:
        tail = "/" + request.match_info["tail"]
        if request.headers.get("Upgrade", "").lower() == "websocket":
            protocols = [
                p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")
            ]
            async with session.ws_connect(
                upstream.replace("http", "ws", 1) + tail, protocols=protocols
            ) as back:
                front = web.WebSocketResponse(protocols=[back.protocol] if back.protocol else [])
                await front.prepare(request)

                async def down() -> None:
                    async for msg in back:
                        await front.send_str(msg.data)
                    await front.close()

                pump = asyncio.ensure_future(down())
                async for msg in front:
                    await back.send_str(msg.data)
                pump.cancel()
                return front
        headers = {k: v for k, v in request.headers.items() if k.lower() not in hop}
        async with session.request(
            request.method,
            upstream + tail + (f"?{request.query_string}" if request.query_string else ""),
            headers=headers,
            data=await request.read(),
            allow_redirects=False,
        ) as r:
            body = await r.read()
            out = {k: v for k, v in r.headers.items() if k.lower() not in hop | {"content-length"}}
            return web.Response(status=r.status, body=body, headers=out)

    app = web.Application()
    app.router.add_route("*", "/web4ai/{tail:.*}", forward)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/web4ai/"
    finally:
        await session.close()
        await runner.cleanup()
