"""``python -m web4ai.api``: the REST API on 9000 and the WebSocket on 9001."""

from __future__ import annotations

import argparse
import logging
import os

from web4ai.api.server import ApiOptions, main
from web4ai.observability.logs import LOG_FORMATS


def parse_args(argv: list[str] | None = None) -> ApiOptions:
    p = argparse.ArgumentParser(prog="web4ai api", description=__doc__)
    p.add_argument("--namespace", default=os.environ.get("WEB4AI_NAMESPACE", "default"))
    p.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG"))
    p.add_argument("--host", default=os.environ.get("WEB4AI_HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("WEB4AI_PORT", "9000")))
    p.add_argument(
        "--ws-port",
        type=int,
        default=int(os.environ["WEB4AI_WS_PORT"]) if os.environ.get("WEB4AI_WS_PORT") else None,
        help="port of the websockets server (default: the config's websocket.port, 9001)",
    )
    p.add_argument(
        "--public-ws-url",
        default=os.environ.get("WEB4AI_PUBLIC_WS_URL"),
        help="the WebSocket URL to advertise (e.g. behind an ingress)",
    )
    p.add_argument(
        "--config",
        default=os.environ.get("WEB4AI_CONFIG"),
        help="a YAML configuration (see `web4ai --generate-config`) to load "
        "into the Web4AIOrchestrator at start-up",
    )
    p.add_argument(
        "--metrics-port",
        type=int,
        default=int(os.environ.get("WEB4AI_METRICS_PORT", "9100")),
        help="port of GET /metrics (Prometheus), an app of its own on --host (default 9100; "
        "0: none); never route it through the ingress",
    )
    p.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default=os.environ.get("WEB4AI_LOG_FORMAT", "text"),
        help="text (default) or json lines",
    )
    a = p.parse_args(argv)
    return ApiOptions(
        a.namespace,
        a.kubeconfig,
        a.host,
        a.port,
        a.ws_port,
        a.public_ws_url,
        a.config,
        metrics_port=a.metrics_port,
        log_format=a.log_format,
    )


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    main(parse_args())
