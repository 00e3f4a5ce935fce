"""The egress session on real loopback sockets (no cluster needed): a DNS rebinding
cannot steer a callback to a refused address, redirects are not followed, and
literal hosts never reach the network."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from web4ai.core.egress import EgressPolicy
from web4ai.operator.egress import egress_session, post_json


@dataclass
class Receiver:
    host: str
    port: int = 0
    hits: list[str] = field(default_factory=list)


async def start(receiver: Receiver, redirect_to: str | None = None) -> web.AppRunner:
    async def hook(request: web.Request) -> web.Response:
        receiver.hits.append(request.path)
        if redirect_to:
            raise web.HTTPFound(redirect_to)
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/{tail:.*}", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, receiver.host, receiver.port)
    await site.start()
    receiver.port = runner.addresses[0][1]
    return runner


@pytest.fixture
async def receivers() -> AsyncIterator[tuple[Receiver, Receiver]]:
    """An allowed receiver on 127.0.0.1 and a trap on 127.0.0.2, on the same port."""
    allowed = Receiver("127.0.0.1")
    first = await start(allowed)
    trap = Receiver("127.0.0.2", allowed.port)
    second = await start(trap)
    try:
        yield allowed, trap
    finally:
        await first.cleanup()
        await second.cleanup()


async def test_dns_rebinding_never_reaches_the_refused_address(
    receivers: tuple[Receiver, Receiver],
) -> None:
    allowed, trap = receivers
    policy = EgressPolicy.build(allowed_networks=["127.0.0.1/32"])
    answers: list[str] = []

    async def rebinding(host: str, port: int, family: int) -> list[str]:
        # allowed for the first lookup, the refused trap for every later one
        answer = "127.0.0.1" if not answers else "127.0.0.2"
        answers.append(answer)
        return [answer]

    session = egress_session(lambda: policy, rebinding)
    url = f"http://rebind.example:{allowed.port}/hook"
    try:
        outcomes = [await post_json(session, policy, url, {"n": i}) for i in range(3)]
    finally:
        await session.close()
    # the first connection went to the checked address, once resolved
    assert outcomes[0] is None and allowed.hits == ["/hook"]
    # every request resolves once; later lookups answered the trap: refused, never connected
    assert answers == ["127.0.0.1", "127.0.0.2", "127.0.0.2"]
    for outcome in outcomes[1:]:
        assert outcome is not None and "127.0.0.2 is a loopback address" in outcome
    assert trap.hits == []


async def test_a_name_resolving_to_a_refused_address_is_never_connected(
    receivers: tuple[Receiver, Receiver],
) -> None:
    allowed, trap = receivers
    policy = EgressPolicy.build(allowed_networks=["127.0.0.1/32"])

    async def mixed(host: str, port: int, family: int) -> list[str]:
        return ["127.0.0.1", "127.0.0.2"]  # one refused address refuses the name

    session = egress_session(lambda: policy, mixed)
    try:
        outcome = await post_json(session, policy, f"http://mixed.example:{allowed.port}/", {})
    finally:
        await session.close()
    assert outcome is not None and "127.0.0.2" in outcome
    assert allowed.hits == [] and trap.hits == []


async def test_literal_and_numeric_hosts_are_refused_without_a_lookup(
    receivers: tuple[Receiver, Receiver],
) -> None:
    allowed, trap = receivers
    policy = EgressPolicy()
    assert trap.hits == []
    lookups: list[str] = []

    async def lookup(host: str, port: int, family: int) -> list[str]:
        lookups.append(host)
        return ["93.184.216.34"]

    session = egress_session(lambda: policy, lookup)
    try:
        for host in ("127.0.0.1", "2130706433", "0x7f.1", "127.1", "[::ffff:127.0.0.1]"):
            outcome = await post_json(session, policy, f"http://{host}:{allowed.port}/", {})
            assert outcome is not None and outcome.startswith("refused"), host
    finally:
        await session.close()
    assert allowed.hits == [] and lookups == []


async def test_redirects_are_not_followed(receivers: tuple[Receiver, Receiver]) -> None:
    allowed, _ = receivers
    redirecting = Receiver("127.0.0.1")
    runner = await start(redirecting, redirect_to=f"http://127.0.0.1:{allowed.port}/stolen")
    policy = EgressPolicy.build(allowed_networks=["127.0.0.1/32"])
    session = egress_session(lambda: policy)
    try:
        outcome = await post_json(session, policy, f"http://127.0.0.1:{redirecting.port}/h", {})
    finally:
        await session.close()
        await runner.cleanup()
    assert outcome == "HTTP 302"
    assert redirecting.hits == ["/h"] and allowed.hits == []
