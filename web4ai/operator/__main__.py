"""``python -m web4ai.operator``: the operator, run by Kopf.

Kopf provides the process (login, signals, logging, the liveness endpoint) and
watches the orchestrator: its ``@kopf.on.event`` handler puts every event into the
operator's store and wakes the passes; it writes nothing. The leader-gated passes
(scheduling, liveness, timekeeping, accounting, callbacks, retention) run as a
``@kopf.daemon`` on the singleton Web4AIOrchestrator, whose spec is the live settings;
the daemon also owns the task, node and node Lease feeds (the Leases selected by their
``web4ai.io/node-id`` label), lean lists + watches: Kopf takes in a full store of tasks
far too slowly (see README, "Operator start-up budgets"), a Kopf event per Lease
renewal cost more CPU than the heartbeat itself, and one per node status write (a deep
copy of the body and its diff base) half of the operator's CPU at 3,000 nodes (README,
"Scaling").

There is no ``@kopf.index``: an index makes every object of every watched kind wait
on Kopf's "all indexed" barrier, whose wake-ups grow with the square of the store
(README, "Operator start-up budgets", has the measurements). The daemon's own barrier
(``Operator._await_listing``) says when the stores are whole.

Leader election stays ours (``web4ai.operator.leader``, a coordination Lease as
client-go does it). Kopf's peering cannot elect a leader: replicas of the same
priority all pause ("two peers with the same priority") instead of one of them
leading, so Kopf runs standalone and every replica keeps its stores warm.

Kopf adds its finalizer to the Web4AIOrchestrator (a daemon blocks the deletion of
its object until it has stopped). Every write on our objects is our own otherwise.

One login path: the credentials are read once, into the kubernetes_asyncio client
the controllers write with, and Kopf's login handler is given the same
(``web4ai.k8s.login``).
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
from web4ai import eventloop
from web4ai.core.bodies import ORCHESTRATOR_NAME
from web4ai.core.resources import GROUP, ORCHESTRATORS, VERSION
from web4ai.k8s.login import connection_info
from web4ai.observability.logs import LOG_FORMATS, setup_logging
from web4ai.observability.metrics import OperatorMetrics, serve_metrics
from web4ai.operator.runner import JobFailed, Operator, OperatorOptions
from web4ai.operator.scheduler import BIND_IN_FLIGHT

log = logging.getLogger("web4ai.operator")


@dataclass(frozen=True)
class ProcessOptions:
    """The process's own settings, beside the controllers' options."""

    liveness: str | None = None
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 8081  # 0: no metrics endpoint
    log_format: str = "text"


def tune(settings: kopf.OperatorSettings) -> None:
    """Kopf's settings for this operator (measured: README, "Operator start-up budgets")."""
    settings.posting.enabled = False  # our Events are our own
    # the namespace and the resources are given: no cluster-wide scan of namespaces and
    # CRDs, which the operator's RBAC does not allow (Kopf retried it for a minute at start)
    settings.scanning.disabled = True
    # an event is handled at once, not after 0.1 s of waiting for more of the same object
    settings.batching.batch_window = 0.01


def build_registry(
    options: OperatorOptions, process: ProcessOptions | None = None
) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    process = process or ProcessOptions(metrics_port=0)

    @kopf.on.startup(registry=registry)
    async def startup(memo: kopf.Memo, settings: kopf.OperatorSettings, **_: Any) -> None:
        tune(settings)
        metrics = OperatorMetrics(CollectorRegistry(), web4ai.__version__)
        operator = await Operator.create(options, metrics)
        memo["operator"] = operator
        await operator.ensure_orchestrator()
        if process.metrics_port:
            try:
                memo["metrics"] = await serve_metrics(
                    metrics.registry, process.metrics_host, process.metrics_port
                )
            except OSError as exc:  # metrics are not worth failing the operator for
                log.error("metrics endpoint not started on port %d: %s", process.metrics_port, exc)

    @kopf.on.login(registry=registry)
    async def login(memo: kopf.Memo, **_: Any) -> kopf.ConnectionInfo:
        operator: Operator = memo["operator"]  # startup runs before the first login
        return await connection_info(operator.api.configuration)

    @kopf.on.cleanup(registry=registry)
    async def cleanup(memo: kopf.Memo, **_: Any) -> None:
        operator: Operator | None = memo.get("operator")
        if operator is not None:
            await operator.stop()
        if memo.get("metrics") is not None:
            await memo["metrics"].cleanup()

    # -- watches: events into the stores; they write nothing ------------------

    @kopf.on.event(GROUP, VERSION, ORCHESTRATORS.plural, registry=registry)
    async def orchestrator_event(memo: kopf.Memo, event: kopf.RawEvent, **_: Any) -> None:
        operator: Operator = memo["operator"]
        operator.observe(ORCHESTRATORS, event.get("type"), dict(event["object"]))
        if event.get("type") == "DELETED" and event["object"]["metadata"]["name"] == (
            ORCHESTRATOR_NAME
        ):
            await operator.ensure_orchestrator()  # the daemon lives on it

    # -- the leader-gated passes ------------------------------------------------

    @kopf.daemon(
        GROUP,
        VERSION,
        ORCHESTRATORS.plural,
        when=lambda name, **_: name == ORCHESTRATOR_NAME,
        cancellation_backoff=30.0,
        registry=registry,
    )
    async def passes(memo: kopf.Memo, stopped: kopf.DaemonStopped, **_: Any) -> None:
        try:
            await memo["operator"].run(stopped)
        except JobFailed as exc:
            raise kopf.TemporaryError(str(exc), delay=1.0) from exc

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
        default=int(os.environ.get("WEB4AI_BIND_IN_FLIGHT", str(BIND_IN_FLIGHT))),
        help=f"binding writes in flight at once (default {BIND_IN_FLIGHT})",
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
    setup_logging(process.log_format)
    # "Handler ... succeeded" for every watch event (each node's heartbeat) is noise
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    kopf.run(
        registry=build_registry(options, process),
        standalone=True,
        namespaces=[options.namespace],
        liveness_endpoint=process.liveness,
        memo=kopf.Memo(),
        loop=eventloop.loop_factory()(),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
