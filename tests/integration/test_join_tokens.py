"""Issue 23 on the real control plane: join tokens. Create, join (the node is registered
and gets its own key), list and revoke; a single-use token's second use, an expired, a
revoked, an unknown and a malformed token are refused with a 401 that says which; a
joined node's key acts on its own node only; bad input gets the envelope."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest
from kubernetes_asyncio import client

from tests.conftest import Stack
from tests.integration.apiclient import Http, assert_error
from tests.integration.helpers import eventually

TOKEN = re.compile(r"^[a-z0-9]{6}\.[a-z0-9]{16}$")


@pytest.fixture
def http(stack: Stack) -> Http:
    return Http(stack.api.base, stack.headers)


def bearer(stack: Stack, secret: str) -> Http:
    return Http(stack.api.base, {"Authorization": f"Bearer {secret}"})


async def make_token(http: Http, **body: Any) -> tuple[str, dict[str, Any]]:
    status, answer = await http.post("/join-tokens", body)
    assert status == 200, answer
    assert TOKEN.match(answer["token"]), answer
    return answer["token"], answer["join_token"]


async def join(stack: Stack, token: str, **body: Any) -> tuple[int, Any]:
    return await bearer(stack, token).post("/join", {"host": "127.0.0.1", **body})


async def test_a_node_joins_and_acts_with_its_own_key_only(
    stack: Stack, http: Http, api: client.ApiClient
) -> None:
    token, entry = await make_token(http, uses=2, node_prefix="jt-", capabilities=["echo"])
    assert entry["state"] == "active" and entry["uses"] == 2 and entry["remaining"] == 2
    status, body = await join(stack, token, capabilities=["echo"])
    assert status == 200, body
    node_id, key = body["node_id"], body["api_key"]
    assert node_id.startswith("jt-") and body["key_id"] == f"joined-{node_id}"
    # registered already
    status, got = await http.get(f"/nodes/{node_id}")
    assert status == 200 and got["node"]["capabilities"] == ["echo"], got
    # its key: its own node, pinned to the token's capabilities
    own = bearer(stack, key)
    assert (await own.post(f"/nodes/{node_id}/heartbeat", {"status": "active"}))[0] == 200
    status, other = await join(stack, token, node_id="jt-other")
    assert status == 200, other
    for method, path, payload in (
        ("POST", f"/nodes/{other['node_id']}/heartbeat", {"status": "active"}),
        ("GET", f"/nodes/{other['node_id']}", None),
        ("PUT", f"/nodes/{other['node_id']}/status", {"status": "offline"}),
        ("POST", f"/nodes/{other['node_id']}/register", {"host": "h"}),
        ("GET", "/keys", None),
        ("POST", "/join-tokens", {}),
    ):
        status, answer, _ = await own.call(method, path, payload)
        assert_error(status, answer, 403, "FORBIDDEN")
    status, answer = await own.post(
        f"/nodes/{node_id}/register", {"host": "h", "capabilities": ["gpu"]}
    )
    assert_error(status, answer, 403, "FORBIDDEN")
    # the key is in the list, made by the token
    status, listed = await http.get("/keys")
    keys = {k["id"]: k for k in listed["keys"]}
    assert keys[f"joined-{node_id}"]["node_id"] == node_id
    assert keys[f"joined-{node_id}"]["capabilities"] == ["echo"]
    # both uses spent: the token is used up
    status, tokens = await http.get("/join-tokens")
    listed_token = {t["id"]: t for t in tokens["join_tokens"]}[entry["id"]]
    assert listed_token["state"] == "used_up" and listed_token["used"] == 2
    assert token not in json.dumps(tokens)
    status, answer = await join(stack, token)
    assert_error(status, answer, 401, "AUTHENTICATION_FAILED")
    assert answer["details"]["reason"] == "used_up" and "used up" in answer["error"]

    async def recorded() -> bool:
        got = await client.CoreV1Api(api).list_namespaced_event(stack.namespace)
        used = [e for e in got.items if e.reason == "JoinTokenUsed"]
        made = [e for e in got.items if e.reason == "ApiKeyCreated"]
        return len([e for e in used if entry["id"] in e.message]) == 2 and any(
            f"joined-{node_id}" in e.message and f"join-token:{entry['id']}" in e.message
            for e in made
        )

    await eventually(recorded, within=10)
    got = await client.CoreV1Api(api).list_namespaced_event(stack.namespace)
    for event in got.items:
        assert token not in (event.message or "") and key not in (event.message or "")


async def test_a_single_use_token_is_refused_the_second_time(stack: Stack, http: Http) -> None:
    token, _ = await make_token(http)
    first = await join(stack, token)
    assert first[0] == 200, first
    status, answer = await join(stack, token)
    assert_error(status, answer, 401, "AUTHENTICATION_FAILED")
    assert answer["details"]["reason"] == "used_up"


async def test_concurrent_joins_never_exceed_the_uses(stack: Stack, http: Http) -> None:
    token, entry = await make_token(http, uses=3)
    results = await asyncio.gather(*(join(stack, token) for _ in range(6)))
    assert sorted(s for s, _ in results) == [200, 200, 200, 401, 401, 401], results
    _status, tokens = await http.get("/join-tokens")
    assert {t["id"]: t for t in tokens["join_tokens"]}[entry["id"]]["used"] == 3


async def test_expired_revoked_unknown_and_malformed_tokens_say_which(
    stack: Stack, http: Http
) -> None:
    expiring, short = await make_token(http, ttl=1)
    revoked, entry = await make_token(http, uses=5)
    status, body = await http.delete(f"/join-tokens/{entry['id']}")
    assert status == 200 and body["id"] == entry["id"], body
    status, tokens = await http.get("/join-tokens")
    listed = {t["id"]: t for t in tokens["join_tokens"]}[entry["id"]]
    assert listed["state"] == "revoked" and listed["revoked_by"] == "admin-env"

    async def expired() -> bool:  # ttl 1 s, expiry in whole seconds: within 2 s
        _, tokens = await http.get("/join-tokens")
        return bool({t["id"]: t for t in tokens["join_tokens"]}[short["id"]]["state"] == "expired")

    await eventually(expired, within=10, interval=0.2)
    unknown = "zzzzzz." + revoked.split(".")[1]
    wrong_secret = revoked.split(".")[0] + ".0000000000000000"
    for token, reason in (
        (expiring, "expired"),
        (revoked, "revoked"),
        (unknown, "unknown"),
        (wrong_secret, "unknown"),
        ("not-a-token", "malformed"),
        ("ABCDEF.0123456789abcdef", "malformed"),
    ):
        status, answer = await join(stack, token)
        assert_error(status, answer, 401, "AUTHENTICATION_FAILED")
        assert answer["details"]["reason"] == reason, (token, answer)
    status, answer = await Http(stack.api.base).post("/join", {"host": "h"})
    assert_error(status, answer, 401, "AUTHENTICATION_FAILED")
    assert answer["details"]["reason"] == "malformed"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"ttl": 8 * 86400}, "ttl"),
        ({"ttl": "8d"}, "ttl"),
        ({"ttl": "whenever"}, "ttl"),
        ({"uses": 0}, "uses"),
        ({"uses": -1}, "uses"),
        ({"uses": "many"}, "uses"),
        ({"node_prefix": "bad prefix"}, "node_prefix"),
    ],
)
async def test_bad_token_requests_get_the_envelope(
    http: Http, body: dict[str, object], field: str
) -> None:
    status, answer = await http.post("/join-tokens", body)
    assert_error(status, answer, 400, "INVALID_REQUEST")
    assert {e["field"] for e in answer["details"]["errors"]} == {field}, answer


async def test_joins_outside_the_token_are_refused_and_spend_nothing(
    stack: Stack, http: Http
) -> None:
    token, entry = await make_token(http, node_prefix="gpu-", capabilities=["ai_inference"])
    status, answer = await join(stack, token, node_id="cpu-1")
    assert_error(status, answer, 403, "FORBIDDEN")
    status, answer = await join(stack, token, capabilities=["echo"])
    assert_error(status, answer, 403, "FORBIDDEN")
    status, answer = await bearer(stack, token).post("/join", {"node_id": "gpu-1"})
    assert_error(status, answer, 400, "INVALID_REQUEST")  # no host
    assert (await http.post("/nodes/gpu-taken/register", {"host": "h"}))[0] == 200
    status, answer = await join(stack, token, node_id="gpu-taken")
    assert_error(status, answer, 409, "NODE_EXISTS")
    status, tokens = await http.get("/join-tokens")
    assert {t["id"]: t for t in tokens["join_tokens"]}[entry["id"]]["used"] == 0
    status, body = await join(stack, token, node_id="gpu-1", capabilities=["ai_inference"])
    assert status == 200 and body["node_id"] == "gpu-1", body


async def test_a_join_body_that_could_not_be_stored_spends_nothing(
    stack: Stack, http: Http
) -> None:
    token, entry = await make_token(http)
    status, answer, _ = await bearer(stack, token).call(
        "POST",
        "/join",
        data=b'{"host": "h", "metadata": {"x": NaN}}',
        headers={"Content-Type": "application/json"},
    )
    assert_error(status, answer, 400, "INVALID_REQUEST")
    assert any(e["field"].startswith("metadata") for e in answer["details"]["errors"]), answer
    status, tokens = await http.get("/join-tokens")
    assert {t["id"]: t for t in tokens["join_tokens"]}[entry["id"]]["used"] == 0


async def test_unknown_token_ids_get_the_envelope(http: Http) -> None:
    status, body = await http.delete("/join-tokens/zzzzzz")
    assert_error(status, body, 404, "JOIN_TOKEN_NOT_FOUND")
    status, body = await http.delete("/join-tokens/NOT-AN-ID")
    assert_error(status, body, 404, "JOIN_TOKEN_NOT_FOUND")


async def test_zz_refused_tokens_spend_the_failed_authentication_budget(
    stack: Stack, http: Http
) -> None:
    """Last in this module: it spends the address's budget (30 failures a minute)."""
    statuses = [(await join(stack, "guess.0000000000000000"))[0] for _ in range(40)]
    assert statuses[0] == 401 and statuses[-1] == 429, statuses
    assert statuses.count(401) <= 31
    # the same budget as wrong keys: a wrong key from this address waits too
    status, answer = await Http(stack.api.base, {"Authorization": "Bearer wrong"}).get("/nodes")
    assert_error(status, answer, 429, "RATE_LIMITED")
