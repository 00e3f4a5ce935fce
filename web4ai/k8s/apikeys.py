"""API keys as stored in the key Secret: a name maps to a base64 JSON document
``{"sha256": <hex digest of the key>, "role": ..., "node_id": ..., "capabilities": [...]}``. Keys
themselves are never stored. Used by the API (which authenticates with them) and
by the operator (which mints node keys for discovered nodes)."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from web4ai.k8s.errors import translated, unless_gone

SECRET_NAME = "web4ai-api-keys"
LABELS = {"app.kubernetes.io/part-of": "web4ai"}


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return "w4a_" + secrets.token_urlsafe(32)


def entry(role: str, node_id: str | None, key: str, capabilities: list[str] | None = None) -> str:
    """The Secret value of a key; ``capabilities`` (node keys, optional) pins what
    that node may claim at registration."""
    doc: dict[str, Any] = {"sha256": digest(key), "role": role}
    if node_id:
        doc["node_id"] = node_id
    if capabilities is not None:
        doc["capabilities"] = capabilities
    return base64.b64encode(json.dumps(doc).encode()).decode()


async def read_entries(
    api: client.ApiClient, namespace: str, secret_name: str = SECRET_NAME
) -> dict[str, str] | None:
    """The key Secret's entries (name -> base64 JSON document); None when there is
    no Secret."""
    secret = await unless_gone(client.CoreV1Api(api).read_namespaced_secret(secret_name, namespace))
    if secret is None:
        return None
    data: dict[str, str] = secret.data or {}
    return data


async def patch_or_create(
    patch: Callable[[], Awaitable[object]], create: Callable[[], Awaitable[object]]
) -> None:
    """Merge-patch an object that may not exist yet: ``patch``; on a 404 ``create`` it;
    on a 409 (another writer created it meanwhile) ``patch`` after all. Errors are
    raised typed (``web4ai.k8s.errors``)."""
    with translated():
        try:
            await patch()
            return
        except ApiException as exc:
            if exc.status != 404:
                raise
        try:
            await create()
        except ApiException as exc:
            if exc.status != 409:
                raise
            await patch()


async def store_entry(
    api: client.ApiClient, namespace: str, name: str, value: str, secret_name: str = SECRET_NAME
) -> None:
    """Put ``name: value`` into the key Secret, creating the Secret if needed."""
    core = client.CoreV1Api(api)
    data = {"data": {name: value}}
    await patch_or_create(
        lambda: core.patch_namespaced_secret(secret_name, namespace, data),
        lambda: core.create_namespaced_secret(
            namespace,
            {"metadata": {"name": secret_name, "labels": LABELS}, "type": "Opaque", **data},
        ),
    )
