"""Which callback URLs the orchestrator may POST to, and when to retry."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from urllib.parse import urlsplit

METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "metadata.azure.internal"})
METADATA_ADDRESSES = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),
        ipaddress.ip_address("169.254.170.2"),
        ipaddress.ip_address("100.100.100.200"),
        ipaddress.ip_address("fd00:ec2::254"),
    }
)
BACKOFF = (1.0, 2.0, 4.0, 8.0, 16.0)


def url_problem(url: object) -> str | None:
    """What is wrong with a callback URL's form, or None."""
    if not isinstance(url, str) or not url:
        return "must be a non-empty string"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return "must be an http or https URL"
    if not parts.hostname:
        return "must name a host"
    if parts.hostname.lower() in METADATA_HOSTS:
        return "must not point at a cloud metadata service"
    return None


def address_refusal(addresses: Sequence[str], allow_private: bool) -> str | None:
    """Refuse link-local and metadata addresses unless ``allow_private``."""
    if allow_private:
        return None
    for text in addresses:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
        if ip in METADATA_ADDRESSES:
            return f"{ip} is a cloud metadata address"
        if ip.is_link_local:
            return f"{ip} is a link-local address"
    return None
