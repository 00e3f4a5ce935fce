"""``python -m web4ai.operator``: the operator, run by Kopf.

Kopf provides the process: login, signal handling, logging and the liveness
endpoint. The controllers are a reconcile loop fed by our own informers
(list + watch), started and stopped by Kopf's startup and cleanup handlers,
so Kopf writes nothing on our objects.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from dataclasses import dataclass
from typing import Any

import kopf
from prometheus_client import CollectorRegistry

import web4ai
from web4ai.observability.logs import LOG_FORMATS, setup_logging
from web4ai.observability.metrics import OperatorMetrics, serve_metrics
from web4ai.operator.runner import Operator, OperatorOptions

log = logging.getLogger("web4ai.operator")


@dataclass(frozen=True)
class ProcessOptions:
    """The process's own settings, beside the controllers' options."""

    liveness: str | None = None
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 8081  # 0: no metrics endpoint
    log_format: str = "text"


def build_registry(
    options: OperatorOptions, process: ProcessOptions | None = None
) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    process = process or ProcessOptions(metrics_port=0)

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> Any:
        if options.kubeconfig is None and "KUBERNETES_SERVICE_HOST" in os.environ:
            return kopf.login_with_service_account(**kwargs)
        return kopf.login_with_kubeconfig(**kwargs)

    @kopf.on.startup(registry=registry)
    async def startup(memo: kopf.Memo, settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.posting.enabled = False
        metrics = OperatorMetrics(CollectorRegistry(), web4ai.__version__)
        operator = await Operator.create(options, metrics)
        operator.start()
        memo["operator"] = operator
        if process.metrics_port:
            try:
                memo["metrics"] = await serve_metrics(
                    metrics.registry, process.metrics_host, process.metrics_port
                )
            except OSError as exc:  # metrics are not worth failing the operator for
                log.error("metrics endpoint not started on port %d: %s", process.metrics_port, exc)

    @kopf.on.cleanup(registry=registry)
    async def cleanup(memo: kopf.Memo, **_: Any) -> None:
        operator: Operator | None = memo.get("operator")
        if operator is not None:
            await operator.stop()
        if memo.get("metrics") is not None:
            await memo["metrics"].cleanup()

    @kopf.on.probe(registry=registry, id="synced")
    def synced(memo: kopf.Memo, **_: Any) -> bool:
        operator: Operator | None = memo.get("operator")
        return operator is not None and operator.ready

    @kopf.on.probe(registry=registry, id="leader")
    def leader(memo: kopf.Memo, **_: Any) -> bool:
        operator: Operator | None = memo.get("operator")
        return operator is not None and operator.leader.is_leader

    return registry


def parse_args(argv: list[str] | None = None) -> tuple[OperatorOptions, ProcessOptions]:
    p = argparse.ArgumentParser(prog="web4ai operator", description=__doc__)
    p.add_argument("--namespace", default=os.environ.get("WEB4AI_NAMESPACE", "default"))
    p.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG"))
    p.add_argument(
        "--lease-duration",
        type=float,
        default=15.0,
        help="leader lease duration in seconds (default 15)",
    )
    p.add_argument(
        "--retry-period",
        type=float,
        default=2.0,
        help="seconds between leader lease renewals (default 2)",
    )
    p.add_argument(
        "--liveness", default=None, help="liveness endpoint, e.g. http://0.0.0.0:8080/healthz"
    )
    p.add_argument(
        "--api-url",
        default=os.environ.get("WEB4AI_API_URL"),
        help="the API's URL (…/api/v1) that discovered nodes are told to join",
    )
    p.add_argument(
        "--metrics-host",
        default=os.environ.get("WEB4AI_OPERATOR_METRICS_HOST", "127.0.0.1"),
        help="address of the Prometheus endpoint (default 127.0.0.1; 0.0.0.0 in the chart)",
    )
    p.add_argument(
        "--metrics-port",
        type=int,
        default=int(os.environ.get("WEB4AI_OPERATOR_METRICS_PORT", "8081")),
        help="port of GET /metrics, beside the liveness endpoint (default 8081; 0: none)",
    )
    p.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default=os.environ.get("WEB4AI_LOG_FORMAT", "text"),
        help="text (default) or json lines",
    )
    p.add_argument(
        "--bind-in-flight",
        type=int,
        default=int(os.environ.get("WEB4AI_BIND_IN_FLIGHT", "32")),
        help="binding writes in flight at once (default 32, chosen by bench.scheduler)",
    )
    args = p.parse_args(argv)
    options = OperatorOptions(
        namespace=args.namespace,
        kubeconfig=args.kubeconfig,
        lease_duration=args.lease_duration,
        retry_period=args.retry_period,
        api_url=args.api_url,
        bind_in_flight=max(1, args.bind_in_flight),
    )
    process = ProcessOptions(args.liveness, args.metrics_host, args.metrics_port, args.log_format)
    return options, process


def main(argv: list[str] | None = None) -> int:
    options, process = parse_args(argv)
    if options.kubeconfig:
        os.environ["KUBECONFIG"] = options.kubeconfig  # for Kopf's own login
    setup_logging(process.log_format)
    kopf.run(
        registry=build_registry(options, process),
        standalone=True,
        namespaces=[options.namespace],
        liveness_endpoint=process.liveness,
        memo=kopf.Memo(),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
