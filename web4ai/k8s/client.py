"""Building a kubernetes_asyncio ApiClient from a kubeconfig or in-cluster config."""

from __future__ import annotations

import os

from kubernetes_asyncio import client, config


async def api_client(kubeconfig: str | None = None) -> client.ApiClient:
    """An ApiClient for ``kubeconfig``; in a pod with none given, the in-cluster config.

    The caller owns the client and must close it.
    """
    if kubeconfig is None and "KUBERNETES_SERVICE_HOST" in os.environ:
        config.load_incluster_config()
        return client.ApiClient()
    return await config.new_client_from_config(config_file=kubeconfig)
