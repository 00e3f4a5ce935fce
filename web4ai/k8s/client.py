"""Building a kubernetes_asyncio ApiClient from a kubeconfig or in-cluster config."""

from __future__ import annotations

import os

from kubernetes_asyncio import client, config
from kubernetes_asyncio.client import ApiClient

__all__ = ["ApiClient", "api_client"]


async def api_client(kubeconfig: str | None = None) -> ApiClient:
    """An ApiClient for ``kubeconfig``; in a pod with none given, the in-cluster config.

    The caller owns the client and must close it.
    """
    if kubeconfig is None and "KUBERNETES_SERVICE_HOST" in os.environ:
        config.load_incluster_config()
        return client.ApiClient()
    return await config.new_client_from_config(config_file=kubeconfig)
