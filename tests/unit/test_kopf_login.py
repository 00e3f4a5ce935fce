"""Kopf's credentials come from the operator's one ApiClient (no second login path)."""

from __future__ import annotations

import asyncio
from typing import Any

from kubernetes_asyncio.client import Configuration

from web4ai.k8s.login import connection_info


def info(configuration: Configuration) -> Any:
    return asyncio.run(connection_info(configuration))


def test_a_client_certificate_login_is_handed_over() -> None:
    c = Configuration(host="https://127.0.0.1:6443")
    c.ssl_ca_cert, c.cert_file, c.key_file = "/pki/ca.crt", "/pki/op.crt", "/pki/op.key"
    got = info(c)
    assert got.server == "https://127.0.0.1:6443"
    assert got.ca_path == "/pki/ca.crt"
    assert got.certificate_path == "/pki/op.crt"
    assert got.private_key_path == "/pki/op.key"
    assert got.token is None and got.insecure is False


def test_a_bearer_token_is_handed_over_without_its_scheme_twice() -> None:
    c = Configuration(host="https://10.0.0.1")
    c.api_key["BearerToken"] = "Bearer abc.def"
    got = info(c)
    assert (got.scheme, got.token) == ("Bearer", "abc.def")


def test_a_service_account_token_is_read_again_on_each_login() -> None:
    c = Configuration(host="https://10.0.0.1")
    tokens = iter(["Bearer first", "Bearer second"])

    def refresh(configuration: Configuration) -> None:
        configuration.api_key["BearerToken"] = next(tokens)

    c.refresh_api_key_hook = refresh
    assert info(c).token == "first"
    assert info(c).token == "second"
