"""Where keys' companions live in the cluster: join tokens in the Secret
``web4ai-join-tokens`` (one entry per token id, uses counted by a JSON patch that first
tests the entry, so that two API replicas never hand out the same use twice), and the
coarse last use of each key in the ConfigMap ``web4ai-api-key-usage`` (key id -> RFC
3339 time; one merge patch per replica at most every half minute, never a write per
request). Revoking a key removes its entry from the key Secret."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Mapping
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from web4ai.core.jointokens import ALPHABET, TokenRecord, parse_token_entry
from web4ai.core.keys import iso, parse_iso
from web4ai.k8s.apikeys import LABELS, SECRET_NAME, patch_or_create, read_entries, store_entry
from web4ai.k8s.errors import typed, unless_gone

TOKEN_SECRET = "web4ai-join-tokens"
USAGE_CONFIGMAP = "web4ai-api-key-usage"
JSON_PATCH = "application/json-patch+json"


def new_token() -> str:
    """A fresh token: ``[a-z0-9]{6}.[a-z0-9]{16}``."""
    pick = "".join(secrets.choice(ALPHABET) for _ in range(22))
    return f"{pick[:6]}.{pick[6:]}"


def random_suffix(n: int = 8) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(n))


def encode(doc: Mapping[str, Any]) -> str:
    return base64.b64encode(json.dumps(doc).encode()).decode()


def decode(raw: str) -> dict[str, Any]:
    doc = json.loads(base64.b64decode(raw))
    if not isinstance(doc, dict):
        raise ValueError("not an object")
    return doc


async def read_tokens(api: client.ApiClient, namespace: str) -> dict[str, tuple[TokenRecord, str]]:
    """Every well-formed token entry: id -> (record, the stored value)."""
    out: dict[str, tuple[TokenRecord, str]] = {}
    for token_id, raw in (await read_entries(api, namespace, TOKEN_SECRET) or {}).items():
        try:
            out[token_id] = (parse_token_entry(token_id, decode(raw)), raw)
        except (ValueError, KeyError, TypeError):
            continue
    return out


async def put_token(api: client.ApiClient, namespace: str, record: TokenRecord) -> None:
    await store_entry(api, namespace, record.id, encode(record.doc()), TOKEN_SECRET)


async def swap_token(api: client.ApiClient, namespace: str, old_raw: str, new: TokenRecord) -> bool:
    """Replace a token's entry if it is still ``old_raw``; False when it changed
    meanwhile (another replica used or revoked it): re-read and decide again."""
    path = "/data/" + new.id
    ops = [
        {"op": "test", "path": path, "value": old_raw},
        {"op": "replace", "path": path, "value": encode(new.doc())},
    ]
    try:
        await client.CoreV1Api(api).patch_namespaced_secret(
            TOKEN_SECRET, namespace, ops, _content_type=JSON_PATCH
        )
    except ApiException as exc:
        if exc.status in (404, 409, 422):
            return False
        raise typed(exc) from exc
    return True


async def drop_tokens(api: client.ApiClient, namespace: str, token_ids: list[str]) -> None:
    """Remove token entries (long expired: kept a while so nodes hear why they fail)."""
    if token_ids:
        await client.CoreV1Api(api).patch_namespaced_secret(
            TOKEN_SECRET, namespace, {"data": dict.fromkeys(token_ids)}
        )


async def remove_key(
    api: client.ApiClient, namespace: str, key_id: str, secret_name: str = SECRET_NAME
) -> None:
    """Remove a key's entry from the key Secret (every replica's watch drops it)."""
    core = client.CoreV1Api(api)
    await unless_gone(
        core.patch_namespaced_secret(secret_name, namespace, {"data": {key_id: None}})
    )


async def read_usage(api: client.ApiClient, namespace: str) -> dict[str, float]:
    """Key id -> last use (Unix seconds), as recorded by every replica."""
    core = client.CoreV1Api(api)
    cm = await unless_gone(core.read_namespaced_config_map(USAGE_CONFIGMAP, namespace))
    if cm is None:
        return {}
    out: dict[str, float] = {}
    for key_id, text in (cm.data or {}).items():
        try:
            ts = parse_iso(text)
        except ValueError:
            continue
        if ts is not None:
            out[key_id] = ts
    return out


async def record_usage(api: client.ApiClient, namespace: str, used: Mapping[str, float]) -> None:
    """Merge ``used`` (key id -> time) into the usage ConfigMap, creating it if needed."""
    data = {"data": {key_id: iso(ts) for key_id, ts in used.items()}}
    core = client.CoreV1Api(api)
    await patch_or_create(
        lambda: core.patch_namespaced_config_map(USAGE_CONFIGMAP, namespace, data),
        lambda: core.create_namespaced_config_map(
            namespace, {"metadata": {"name": USAGE_CONFIGMAP, "labels": LABELS}, **data}
        ),
    )


async def forget_usage(api: client.ApiClient, namespace: str, key_id: str) -> None:
    core = client.CoreV1Api(api)
    await unless_gone(
        core.patch_namespaced_config_map(USAGE_CONFIGMAP, namespace, {"data": {key_id: None}})
    )
