"""The Kubernetes client skips aiohttp's per-request .netrc and proxy lookups unless a
proxy is configured for the API server."""

from __future__ import annotations

import pytest
from kubernetes_asyncio import client

from web4ai.k8s.client import without_env_lookups


def configuration() -> client.Configuration:
    c = client.Configuration()
    c.host = "https://127.0.0.1:6443"
    return c


async def test_no_proxy_in_the_environment_no_lookups(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    api = without_env_lookups(client.ApiClient(configuration()))
    try:
        assert api.rest_client.pool_manager.trust_env is False
    finally:
        await api.close()


async def test_a_proxy_in_the_environment_keeps_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    api = without_env_lookups(client.ApiClient(configuration()))
    try:
        assert api.rest_client.pool_manager.trust_env is True
    finally:
        await api.close()
