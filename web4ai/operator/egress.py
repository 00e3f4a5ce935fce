"""Outbound HTTP under the egress policy (``web4ai.core.egress``).

``PinnedResolver`` is the only resolver of the callback session: it resolves a
host once, checks every address against the policy, and hands aiohttp exactly
the checked addresses, so the connection goes to an address that was checked
(no second lookup a DNS rebinding could answer differently). Literal hosts,
which aiohttp does not resolve, are checked before the request. Redirects are
never followed, every request has a total and a connect timeout, and at most
``MAX_RESPONSE_BYTES`` of a response body are read.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from web4ai.core.egress import BadHost, EgressPolicy, parse_host

Lookup = Callable[[str, int, int], Awaitable[list[str]]]
MAX_RESPONSE_BYTES = 64 * 1024
TIMEOUT = aiohttp.ClientTimeout(total=10.0, connect=5.0, sock_read=10.0)


class EgressRefused(OSError):
    """The policy refuses the address a URL resolved to (an OSError, so aiohttp
    reports it as a connection error and never connects)."""


async def system_lookup(host: str, port: int, family: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, family=family, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class PinnedResolver(AbstractResolver):
    def __init__(self, policy: Callable[[], EgressPolicy], lookup: Lookup = system_lookup) -> None:
        self.policy = policy
        self.lookup = lookup

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        try:
            literal = parse_host(host)
        except BadHost as exc:
            raise EgressRefused(f"refused: {exc}") from None
        addresses = [str(literal)] if literal else await self.lookup(host, port, family)
        if not addresses:
            raise EgressRefused(f"refused: {host} resolves to no address")
        refusal = self.policy().addresses_refusal(addresses, host)
        if refusal:
            raise EgressRefused(f"refused: {refusal}")
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in addresses
        ]

    async def close(self) -> None:
        return None


def egress_session(
    policy: Callable[[], EgressPolicy],
    lookup: Lookup = system_lookup,
    timeout: aiohttp.ClientTimeout = TIMEOUT,
) -> aiohttp.ClientSession:
    """A session whose every request resolves and checks afresh through the pinned
    resolver (no DNS cache, no kept-alive connections that outlive a policy change,
    no proxies from the environment, no cookies)."""
    connector = aiohttp.TCPConnector(
        resolver=PinnedResolver(policy, lookup), use_dns_cache=False, limit=64, force_close=True
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=timeout,
        trust_env=False,
        cookie_jar=aiohttp.DummyCookieJar(),
    )


async def post_json(
    session: aiohttp.ClientSession, policy: EgressPolicy, url: str, payload: Any
) -> str | None:
    """POST ``payload`` to ``url`` once: None on a 2xx answer, else what went wrong
    (a refusal starts with ``refused``)."""
    refusal = policy.url_refusal(url)
    if refusal:
        return f"refused: {refusal}"
    try:
        async with session.post(url, json=payload, allow_redirects=False) as resp:
            await resp.content.read(MAX_RESPONSE_BYTES)  # bounded; the rest is dropped
            if 200 <= resp.status < 300:
                return None
            return f"HTTP {resp.status}"
    except aiohttp.ClientConnectorError as exc:
        if isinstance(exc.os_error, EgressRefused):
            return str(exc.os_error)
        return f"{type(exc).__name__}: {exc}"
    except (aiohttp.ClientError, TimeoutError) as exc:
        return f"{type(exc).__name__}: {exc}"
