"""What the dashboard needs from the API, over HTTP: its files with CSP, validators and
gzip; whoami; the browser WebSocket subprotocol; the metrics history."""

from __future__ import annotations

import base64
import gzip
import json

import aiohttp

from tests.conftest import ADMIN_KEY, Stack
from tests.integration.helpers import eventually

PREFIX = "base64url.bearer.authorization.web4ai.io."


def origin(stack: Stack) -> str:
    return stack.api.base.removesuffix("/api/v1")


def proto(key: str) -> str:
    return PREFIX + base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


async def test_the_page_is_served_with_csp_validators_and_gzip(stack: Stack) -> None:
    async with aiohttp.ClientSession(auto_decompress=False) as s:
        async with s.get(origin(stack) + "/", headers={"Accept-Encoding": "gzip"}) as r:
            assert r.status == 200
            assert r.headers["Content-Type"].startswith("text/html")
            assert r.headers["Content-Encoding"] == "gzip"
            assert r.headers["Content-Security-Policy"].startswith("default-src 'self'")
            assert r.headers["Cache-Control"] == "no-cache"
            etag = r.headers["ETag"]
            html = gzip.decompress(await r.read()).decode()
        assert "<script" in html and "src=" in html.split("<script", 1)[1].split(">", 1)[0]
        assert "https://" not in html and "http://" not in html  # nothing from elsewhere
        assert 'href="dashboard/app.css?v=' in html and "?v=dev" not in html
        async with s.get(origin(stack) + "/", headers={"If-None-Match": etag}) as r:
            assert r.status == 304
        version = html.split("app.js?v=", 1)[1].split('"', 1)[0]
        async with s.get(f"{origin(stack)}/dashboard/app.js?v={version}") as r:
            assert r.status == 200
            assert r.headers["Content-Type"].startswith("text/javascript")
            assert "immutable" in r.headers["Cache-Control"]
        async with s.get(f"{origin(stack)}/dashboard/api.js") as r:
            assert r.status == 200 and r.headers["Cache-Control"] == "no-cache"
        async with s.get(f"{origin(stack)}/dashboard/nope.js") as r:
            assert r.status == 404


async def test_large_json_answers_are_gzipped_for_clients_that_ask(stack: Stack) -> None:
    async with aiohttp.ClientSession(headers=stack.headers) as s:
        async with s.get(
            f"{stack.api.base}/openapi.json", headers={"Accept-Encoding": "gzip"}
        ) as r:
            assert r.headers.get("Content-Encoding") == "gzip"
            assert (await r.json())["openapi"]
        async with s.get(
            f"{stack.api.base}/openapi.json", headers={"Accept-Encoding": "identity"}
        ) as r:
            assert "Content-Encoding" not in r.headers


async def test_whoami_tells_the_role_of_a_key_without_requiring_one(stack: Stack) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{stack.api.base}/whoami") as r:
            body = await r.json()
            assert r.status == 200
            assert body["api_key_required"] is True and body["authenticated"] is False
        async with s.get(
            f"{stack.api.base}/whoami", headers={"Authorization": "Bearer wrong"}
        ) as r:
            assert (await r.json())["authenticated"] is False
        async with s.get(f"{stack.api.base}/whoami", headers=stack.headers) as r:
            body = await r.json()
            assert body["authenticated"] is True and body["role"] == "admin"


async def test_browsers_authenticate_the_websocket_with_a_subprotocol(stack: Stack) -> None:
    url = stack.api.base.replace("http://", "ws://") + "/ws"
    async with aiohttp.ClientSession() as s:
        async with s.ws_connect(url, protocols=("web4ai.v1", proto(ADMIN_KEY))) as ws:
            assert ws.protocol == "web4ai.v1"  # only the real subprotocol is echoed
            first = json.loads((await ws.receive(timeout=10)).data)
            assert first["type"] == "initial_status"
        try:
            async with s.ws_connect(url, protocols=("web4ai.v1", proto("wrong"))):
                raise AssertionError("a wrong key was admitted")
        except aiohttp.WSServerHandshakeError as exc:
            assert exc.status == 401


async def test_metrics_history_fills_from_the_cache(stack: Stack) -> None:
    async with aiohttp.ClientSession(headers=stack.headers) as s:

        async def samples() -> list[dict[str, object]] | None:
            async with s.get(f"{stack.api.base}/metrics/history?window=60") as r:
                body = await r.json()
            assert body["interval"] == 5.0 and body["window"] == 60
            return body["samples"] if len(body["samples"]) >= 2 else None

        got = await eventually(samples, within=30, interval=1)
        last = got[-1]
        for key in (
            "timestamp",
            "network_utilization",
            "pending_tasks",
            "active_tasks",
            "completions_per_second",
            "avg_cpu_usage",
            "avg_memory_usage",
        ):
            assert key in last
        async with s.get(f"{stack.api.base}/metrics/history?window=0") as r:
            assert r.status == 400
