"""Building a kubernetes_asyncio ApiClient from a kubeconfig or in-cluster config."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp
from aiohttp.helpers import proxies_from_env
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client import ApiClient

__all__ = ["ApiClient", "api_client", "count_requests", "recorder"]

# (method, path with query, HTTP status or "error")
RequestRecorder = Callable[[str, str, "int | str"], None]


def count_requests(api: ApiClient, record: RequestRecorder) -> None:
    """Call ``record`` for every request ``api`` makes (the Writer's, the informers',
    the leader election's) by wrapping its REST client once; the Writer's requests,
    which go straight to the session (``web4ai.k8s.rawhttp``), call it themselves."""
    rest = api.rest_client
    if getattr(rest, "_web4ai_counted", False):
        return
    inner = rest.request

    async def request(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        query = kwargs.get("query_params") or (args[0] if args else None) or []
        target = f"{url}?{urlencode(list(query))}" if query else url
        try:
            response = await inner(method, url, *args, **kwargs)
        except client.exceptions.ApiException as exc:
            record(method, target, exc.status or "error")
            raise
        except Exception:
            record(method, target, "error")
            raise
        record(method, target, getattr(response, "status", 200))
        return response

    rest.request = request
    rest._web4ai_counted = True
    rest._web4ai_record = record


def recorder(api: ApiClient) -> RequestRecorder | None:
    """The ``record`` of ``count_requests(api, record)``, for requests that go past the
    REST client (``web4ai.k8s.rawhttp``); None when ``api`` is not counted."""
    record: RequestRecorder | None = getattr(api.rest_client, "_web4ai_record", None)
    return record


def without_env_lookups(api: ApiClient) -> ApiClient:
    """kubernetes_asyncio's session trusts the environment, so aiohttp looks for
    ``~/.netrc`` (in a worker thread) and the proxy variables on every request: a few
    per cent of a busy process. The API server's credentials come from the kubeconfig,
    never from ``.netrc`` (nor does client-go read it), so when no proxy variable
    is set for the API server's scheme the lookups are switched off; with one they
    stay (proxies and NO_PROXY work as before)."""
    session = getattr(getattr(api, "rest_client", None), "pool_manager", None)
    host = getattr(api.configuration, "host", None)
    if not isinstance(session, aiohttp.ClientSession) or not host:
        return api
    if urlsplit(host).scheme not in proxies_from_env():
        session._trust_env = False  # the only switch aiohttp has after construction
    return api


async def api_client(kubeconfig: str | None = None) -> ApiClient:
    """An ApiClient for ``kubeconfig``; in a pod with none given, the in-cluster config.

    The caller owns the client and must close it.
    """
    if kubeconfig is None and "KUBERNETES_SERVICE_HOST" in os.environ:
        config.load_incluster_config()
        return without_env_lookups(client.ApiClient())
    return without_env_lookups(await config.new_client_from_config(config_file=kubeconfig))
