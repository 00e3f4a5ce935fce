"""API keys as stored in the key Secret: a name maps to a base64 JSON document
``{"sha256": <hex digest of the key>, "role": ..., "node_id": ..., "capabilities": [...]}``. Keys
themselves are never stored. Used by the API (which authenticates with them) and
by the operator (which mints node keys for discovered nodes)."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from web4ai.k8s.errors import typed

SECRET_NAME = "web4ai-api-keys"


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
    try:
        secret = await client.CoreV1Api(api).read_namespaced_secret(secret_name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise typed(exc) from exc
    data: dict[str, str] = secret.data or {}
    return data


async def store_entry(
    api: client.ApiClient, namespace: str, name: str, value: str, secret_name: str = SECRET_NAME
) -> None:
    """Put ``name: value`` into the key Secret, creating the Secret if needed."""
    core = client.CoreV1Api(api)
    try:
        await core.patch_namespaced_secret(secret_name, namespace, {"data": {name: value}})
        return
    except ApiException as exc:
        if exc.status != 404:
            raise
    try:
        await core.create_namespaced_secret(
            namespace,
            {
                "metadata": {
                    "name": secret_name,
                    "labels": {"app.kubernetes.io/part-of": "web4ai"},
                },
                "type": "Opaque",
                "data": {name: value},
            },
        )
    except ApiException as exc:
        if exc.status != 409:
            raise
        await core.patch_namespaced_secret(secret_name, namespace, {"data": {name: value}})
