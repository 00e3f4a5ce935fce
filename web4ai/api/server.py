"""Running the API process: the aiohttp app on 9000 and the websockets server on 9001."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from dataclasses import dataclass

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_request import BaseRequest
from prometheus_client import CollectorRegistry

import web4ai
from web4ai import eventloop
from web4ai.api.app import MAX_REQUEST_LINE, create_app
from web4ai.api.auth import KeyStore
from web4ai.api.context import ApiContext, ApiStats
from web4ai.api.hub import Hub
from web4ai.api.websocket import websocket_9001
from web4ai.core import bodies, patches
from web4ai.core.config import Settings
from web4ai.core.ratelimit import RateLimiter
from web4ai.core.resources import ORCHESTRATORS
from web4ai.k8s.cache import ClusterState
from web4ai.k8s.client import api_client
from web4ai.k8s.orchestrator import ensure_orchestrator
from web4ai.k8s.writing import Writer
from web4ai.observability.logs import setup_logging
from web4ai.observability.metrics import ApiMetrics, HubCollector, serve_metrics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ApiOptions:
    namespace: str
    kubeconfig: str | None = None
    host: str = "127.0.0.1"
    port: int = 9000
    ws_port: int | None = None  # None: the config's websocket.port
    public_ws_url: str | None = None
    config_file: str | None = None
    metrics_port: int = 0  # GET /metrics on an app of its own (9100 from the CLI); 0: none
    log_format: str = "text"


# Answered often and alike by every node (100 a second at 10,000 nodes): a success is
# logged at DEBUG; a refusal or error still at INFO. The line cost 7 % of the API's CPU
# at 100 heartbeats/s (cProfile, bench.scale), the kube-apiserver logs no request.
QUIET_ROUTES = frozenset({"heartbeat", "node_tasks"})


class AccessLog(AbstractAccessLogger):
    """One line per request: method, path without the query string (which must
    never carry a key, but a client may put one there), status and duration; the
    successes of ``QUIET_ROUTES`` at DEBUG."""

    def log(self, request: BaseRequest, response: web.StreamResponse, time: float) -> None:
        match = request.match_info if isinstance(request, web.Request) else None
        route = match.route.name if match is not None else None
        if route in QUIET_ROUTES and response.status < 400:
            if not self.logger.isEnabledFor(logging.DEBUG):
                return
            level = logging.DEBUG
        else:
            level = logging.INFO
        self.logger.log(
            level,
            "%s %s %s %d %.1fms",
            request.remote,
            request.method,
            request.path,
            response.status,
            time * 1000,
        )


async def apply_config_file(ctx: ApiContext, path: str) -> None:
    """``--config FILE``: validate the YAML document and merge it into the orchestrator."""
    import yaml

    from web4ai.core.config import config_to_spec, deep_merge, spec_to_config, validate_config

    with open(path) as f:  # noqa: ASYNC230 - once, at start-up
        doc = yaml.safe_load(f) or {}
    errors = validate_config(doc)
    if errors:
        raise SystemExit(f"{path}: " + "; ".join(f"{e.field}: {e.message}" for e in errors))
    orch = bodies.as_orchestrator(ctx.state.orchestrators.store[bodies.ORCHESTRATOR_NAME])
    merged = deep_merge(spec_to_config(orch.get("spec")), doc)
    result = await ctx.writer.patch(
        ORCHESTRATORS, bodies.ORCHESTRATOR_NAME, patches.spec_patch(config_to_spec(merged))
    )  # created just before: NotFound would be someone deleting it, worth a crash
    ctx.state.record_orchestrator(result)
    log.info("configuration loaded from %s", path)


async def run(options: ApiOptions, stop: asyncio.Event) -> None:
    api = await api_client(options.kubeconfig)
    metrics = ApiMetrics(CollectorRegistry(), web4ai.__version__)
    metrics.instrument(api)
    state = ClusterState(api, options.namespace)
    ctx = ApiContext(
        state=state,
        writer=Writer.kept_alive(api, options.namespace),
        keys=KeyStore(api, options.namespace),
        hub=Hub(lambda: state.settings().max_connections),
        clock=time.time,
        stats=ApiStats(time.time()),
        limiter=RateLimiter(Settings().max_requests_per_minute),
        websocket_url="",
        version=web4ai.__version__,
        metrics=metrics,
    )
    metrics.registry.register(HubCollector(lambda: [c.transport for c in ctx.hub.clients]))
    app = create_app(ctx)
    runner = web.AppRunner(
        app, handle_signals=False, access_log_class=AccessLog, max_line_size=MAX_REQUEST_LINE
    )
    metrics_runner: web.AppRunner | None = None
    await runner.setup()  # starts the informers (cleanup_ctx)
    try:
        await state.wait_synced()
        await ensure_orchestrator(ctx.writer, state)
        if options.config_file:
            await apply_config_file(ctx, options.config_file)
        generated = await ctx.keys.ensure_admin(os.environ.get("WEB4AI_API_KEY"))
        if generated:
            print(f"Admin API key: {generated}", flush=True)
        ctx.ws_port = options.ws_port or state.settings().websocket_port
        ws_url = options.public_ws_url or f"ws://{options.host}:{ctx.ws_port}"
        ctx.websocket_url = ws_url
        site = web.TCPSite(runner, options.host, options.port)
        await site.start()
        ws_server = await websocket_9001(ctx, options.host, ctx.ws_port)
        if options.metrics_port:
            try:
                metrics_runner = await serve_metrics(
                    metrics.registry, options.host, options.metrics_port
                )
            except OSError as exc:  # metrics are not worth failing the API for
                log.error("metrics endpoint not started on %d: %s", options.metrics_port, exc)
        log.info("API on http://%s:%d, WebSocket on %s", options.host, options.port, ws_url)
        print(f"API ready on http://{options.host}:{options.port}/api/v1", flush=True)
        await stop.wait()
        ctx.close_polls()  # long-polls answer now, not when their wait runs out
        ws_server.close()
        await ctx.hub.close_all(1001, "server shutting down")
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws_server.wait_closed(), 5)
    finally:
        if metrics_runner is not None:
            await metrics_runner.cleanup()
        await runner.cleanup()
        await ctx.writer.close()
        await api.close()


def main(options: ApiOptions) -> None:
    setup_logging(options.log_format)

    async def amain() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run(options, stop)

    eventloop.run(amain())
