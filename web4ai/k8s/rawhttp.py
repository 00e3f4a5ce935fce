"""One request to the API server, lean: straight through the ApiClient's own aiohttp
session, the body serialized once with ``json.dumps``, the answer parsed once with
``json.loads``.

The generated API classes spend more of a busy process's CPU than the request itself:
``sanitize_for_serialization`` walks every body, then the parameters, headers and the
answer are assembled and "deserialized" object by object (18 % of the API's CPU under
``make bench-e2e``, of which the aiohttp exchange was 11 %). What this keeps of the
ApiClient is all that makes the request the same one: its session (the same TLS context,
client certificates and connection pool), its configuration's host, its default headers,
its proxy and TLS server name, its auth settings (bearer tokens, refreshed by the
configuration's own hook, as in a pod), and the request counter of
``web4ai.k8s.client.count_requests``. An error answer is raised as the typed error of
its status (``web4ai.k8s.errors``), with the same ``reason``, ``body`` and ``headers``
the generated client gives.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
from kubernetes_asyncio.client import ApiClient

from web4ai.core.resources import Resource
from web4ai.k8s.client import recorder
from web4ai.k8s.errors import answer_error

JSON = "application/json"
AUTH = ["BearerToken"]  # the generated client's auth settings for every call
NO_TIMEOUT = aiohttp.ClientTimeout()  # as the generated client's: none of its own
dumps = json.JSONEncoder(separators=(",", ":")).encode  # a request body, compact


def result(status: int, reason: str | None, raw: bytes, headers: Any, parse: bool) -> Any:
    """An answer's parsed body (None without ``parse``); the typed error of an error
    status (``web4ai.k8s.errors``) with its reason, body as text and headers."""
    if not 200 <= status <= 299:
        raise answer_error(status, reason, raw.decode("utf-8", "replace"), headers)
    return json.loads(raw) if parse else None


def object_path(resource: Resource, namespace: str, name: str | None = None) -> str:
    """The path of ``resource`` in ``namespace`` (of the object ``name`` with one)."""
    base = f"/apis/{resource.group}/{resource.version}" if resource.group else "/api/v1"
    path = f"{base}/namespaces/{namespace}/{resource.plural}"
    return f"{path}/{quote(name, safe='')}" if name is not None else path


async def send(
    api: ApiClient,
    method: str,
    path: str,
    body: Any = None,
    *,
    content_type: str = JSON,
    parse: bool = True,
) -> Any:
    """``method`` ``path`` with ``body`` (JSON of it, when not None); the parsed answer
    (None without ``parse``). Raises the typed error of an error status; a connection
    error as aiohttp raises it."""
    headers = dict(api.default_headers)
    headers["Accept"] = JSON
    headers["Content-Type"] = content_type
    if api.cookie:
        headers["Cookie"] = api.cookie
    queries: list[tuple[str, str]] = []
    await api.update_params_for_auth(headers, queries, AUTH)
    url = api.configuration.host + path
    if queries:
        url += "?" + urlencode(queries)
    rest = api.rest_client
    extra: dict[str, Any] = {}
    if rest.proxy:
        extra["proxy"] = rest.proxy
    if rest.proxy_headers:
        extra["proxy_headers"] = rest.proxy_headers
    if rest.server_hostname:
        extra["server_hostname"] = rest.server_hostname
    record = recorder(api)
    try:
        async with rest.pool_manager.request(
            method,
            url,
            data=None if body is None else dumps(body),
            headers=headers,
            timeout=NO_TIMEOUT,
            **extra,
        ) as response:
            raw = await response.read()
    except Exception:
        if record is not None:
            record(method, url, "error")
        raise
    if record is not None:
        record(method, url, response.status)
    return result(response.status, response.reason, raw, response.headers, parse)
