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
from typing import Any

import kopf

from web4ai.operator.runner import Operator, OperatorOptions


def build_registry(options: OperatorOptions) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> Any:
        if options.kubeconfig is None and "KUBERNETES_SERVICE_HOST" in os.environ:
            return kopf.login_with_service_account(**kwargs)
        return kopf.login_with_kubeconfig(**kwargs)

    @kopf.on.startup(registry=registry)
    async def startup(memo: kopf.Memo, settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.posting.enabled = False
        operator = await Operator.create(options)
        operator.start()
        memo["operator"] = operator

    @kopf.on.cleanup(registry=registry)
    async def cleanup(memo: kopf.Memo, **_: Any) -> None:
        operator: Operator | None = memo.get("operator")
        if operator is not None:
            await operator.stop()

    @kopf.on.probe(registry=registry, id="synced")
    def synced(memo: kopf.Memo, **_: Any) -> bool:
        operator: Operator | None = memo.get("operator")
        return operator is not None and operator.ready

    @kopf.on.probe(registry=registry, id="leader")
    def leader(memo: kopf.Memo, **_: Any) -> bool:
        operator: Operator | None = memo.get("operator")
        return operator is not None and operator.leader.is_leader

    return registry


def parse_args(argv: list[str] | None = None) -> tuple[OperatorOptions, str | None]:
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
    args = p.parse_args(argv)
    options = OperatorOptions(
        namespace=args.namespace,
        kubeconfig=args.kubeconfig,
        lease_duration=args.lease_duration,
        retry_period=args.retry_period,
        api_url=args.api_url,
    )
    return options, args.liveness


def main(argv: list[str] | None = None) -> int:
    options, liveness = parse_args(argv)
    if options.kubeconfig:
        os.environ["KUBECONFIG"] = options.kubeconfig  # for Kopf's own login
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    kopf.run(
        registry=build_registry(options),
        standalone=True,
        namespaces=[options.namespace],
        liveness_endpoint=liveness,
        memo=kopf.Memo(),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
