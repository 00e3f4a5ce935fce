"""``web4ai uninstall``: removes what the product made in a namespace before its
Deployments go (the chart's pre-delete hook runs it; with the plain manifests, run it
before ``kubectl delete -k``). See ``web4ai.k8s.uninstalling`` for the steps."""

from __future__ import annotations

import argparse
import logging
import os

from web4ai import eventloop
from web4ai.k8s.client import api_client
from web4ai.k8s.uninstalling import Uninstall


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="web4ai uninstall", description=__doc__)
    p.add_argument("--namespace", default=os.environ.get("POD_NAMESPACE", "web4ai"))
    p.add_argument("--kubeconfig", help="default: in a pod, the in-cluster config")
    p.add_argument(
        "--selector",
        default="app.kubernetes.io/part-of=web4ai",
        help="label selector of the release's Deployments (and their pods)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        help="seconds to wait at each step before removing finalizers by hand",
    )
    return p.parse_args(argv)


async def uninstall(args: argparse.Namespace) -> None:
    api = await api_client(args.kubeconfig)
    try:
        await Uninstall(api, args.namespace, args.selector, args.timeout).run()
    finally:
        await api.close()


def main(argv: list[str]) -> int:
    args = parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    eventloop.run(uninstall(args))
    return 0
