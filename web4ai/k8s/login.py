"""One login path for the operator: Kopf's credentials come from our ApiClient.

The operator reads its credentials once, into the kubernetes_asyncio ``ApiClient``
of ``web4ai.k8s.client.api_client`` (a kubeconfig, or the pod's service account),
and Kopf's ``@kopf.on.login`` handler hands Kopf the same endpoint, CA, client
certificate and token. A re-login (Kopf asks again after a 401) refreshes the
token the way the ApiClient does (the service account token file is re-read).
"""

from __future__ import annotations

import kopf
from kubernetes_asyncio.client import Configuration

BEARER = "Bearer "


async def connection_info(c: Configuration) -> kopf.ConnectionInfo:
    """Kopf's connection info for the endpoint and credentials of an ApiClient's
    configuration (``api.configuration``)."""
    scheme = token = None
    if "BearerToken" in c.api_key or c.refresh_api_key_hook is not None:
        value = await c.get_api_key_with_prefix("BearerToken")
        if value:
            scheme, token = "Bearer", value.removeprefix(BEARER)
    return kopf.ConnectionInfo(
        server=c.host,
        ca_path=c.ssl_ca_cert or None,
        insecure=not c.verify_ssl,
        username=c.username or None,
        password=c.password or None,
        scheme=scheme,
        token=token,
        certificate_path=c.cert_file or None,
        private_key_path=c.key_file or None,
    )
