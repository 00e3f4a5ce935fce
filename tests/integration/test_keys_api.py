"""Issue 23 on the real control plane: the keys API (create, use, list with last use,
revoke; expiry; keys written into the Secret by hand), its envelope for bad input, its
Events, and revocation seen by a second API replica within 2 s."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest
from kubernetes_asyncio import client

from tests.conftest import ADMIN_KEY, Stack
from tests.integration.apiclient import Http, assert_error
from tests.integration.helpers import ApiProcess, eventually


@pytest.fixture
def http(stack: Stack) -> Http:
    return Http(stack.api.base, stack.headers)


def keyed(stack: Stack, key: str, base: str | None = None) -> Http:
    return Http(base or stack.api.base, {"Authorization": f"Bearer {key}"})


async def events(api: client.ApiClient, ns: str, reason: str) -> list[client.CoreV1Event]:
    listed = await client.CoreV1Api(api).list_namespaced_event(ns)
    return [e for e in listed.items if e.reason == reason]


async def test_a_key_is_created_used_listed_and_revoked(
    stack: Stack, http: Http, api: client.ApiClient
) -> None:
    status, body = await http.post(
        "/keys",
        {"role": "node", "node_id": "keys-node-1", "capabilities": ["echo"], "description": "n1"},
    )
    assert status == 200, body
    key, entry = body["api_key"], body["key"]
    assert key.startswith("w4a_") and entry["role"] == "node" and entry["last_used"] is None
    assert entry["capabilities"] == ["echo"] and entry["node_id"] == "keys-node-1"
    # the Secret holds its digest only
    secret = await client.CoreV1Api(api).read_namespaced_secret("web4ai-api-keys", stack.namespace)
    stored = json.loads(base64.b64decode(secret.data[entry["id"]]))
    assert stored["sha256"] == hashlib.sha256(key.encode()).hexdigest()
    assert (
        key not in json.dumps(secret.data)
        and key not in base64.b64decode(secret.data[entry["id"]]).decode()
    )
    # it works, within its node
    node = keyed(stack, key)
    status, body = await node.post(
        "/nodes/keys-node-1/register", {"host": "h", "capabilities": ["echo"]}
    )
    assert status == 200, body
    status, body = await node.get("/nodes/keys-node-1")
    assert status == 200, body
    # listed, with its last use and never a secret
    status, body = await http.get("/keys")
    assert status == 200 and body["success"] is True, body
    listed = {k["id"]: k for k in body["keys"]}
    assert listed[entry["id"]]["last_used"] is not None
    assert "admin-env" in listed and listed["admin-env"]["role"] == "admin"
    text = json.dumps(body)
    assert key not in text and ADMIN_KEY not in text and "sha256" not in text
    # revoked: refused from now on
    status, body = await http.delete(f"/keys/{entry['id']}")
    assert status == 200 and body["id"] == entry["id"], body
    status, body = await node.get("/nodes/keys-node-1")
    assert_error(status, body, 401, "AUTHENTICATION_FAILED")
    status, body = await http.get("/keys")
    assert entry["id"] not in {k["id"] for k in body["keys"]}
    # each step is an Event on the orchestrator, naming the actor, without the key

    async def recorded() -> bool:
        made = await events(api, stack.namespace, "ApiKeyCreated")
        gone = await events(api, stack.namespace, "ApiKeyRevoked")
        return any(entry["id"] in e.message for e in made) and any(
            entry["id"] in e.message for e in gone
        )

    await eventually(recorded, within=10)
    for reason in ("ApiKeyCreated", "ApiKeyRevoked"):
        for event in await events(api, stack.namespace, reason):
            assert event.involved_object.kind == "Web4AIOrchestrator"
            assert "admin-env" in event.message and key not in event.message


async def test_a_key_written_into_the_secret_by_hand_is_listed_and_revocable(
    stack: Stack, http: Http, api: client.ApiClient
) -> None:
    """The README's kubectl recipe still makes keys, and they show in the list."""
    key = "w4a_by-hand-" + os.urandom(8).hex()
    doc = {"sha256": hashlib.sha256(key.encode()).hexdigest(), "role": "node", "node_id": "node-7"}
    entry = base64.b64encode(json.dumps(doc).encode()).decode()
    await client.CoreV1Api(api).patch_namespaced_secret(
        "web4ai-api-keys", stack.namespace, {"data": {"node-7": entry}}
    )
    node = keyed(stack, key)

    async def works() -> bool:
        return (await node.post("/nodes/node-7/register", {"host": "h"}))[0] == 200

    await eventually(works, within=10, interval=0.5)
    status, body = await http.get("/keys")
    listed = {k["id"]: k for k in body["keys"]}
    assert listed["node-7"]["node_id"] == "node-7" and listed["node-7"]["created_at"] is None
    status, body = await http.delete("/keys/node-7")
    assert status == 200, body
    assert (await node.get("/nodes/node-7"))[0] == 401


async def test_an_expired_key_is_refused(stack: Stack, http: Http) -> None:
    status, body = await http.post("/keys", {"role": "read-only", "expires_at": time.time() + 1.5})
    assert status == 200, body
    reader = keyed(stack, body["api_key"])
    assert (await reader.get("/nodes"))[0] == 200

    async def refused() -> bool:
        return (await reader.get("/nodes"))[0] == 401

    await eventually(refused, within=10, interval=0.25)
    status, answer = await reader.get("/nodes")
    assert_error(status, answer, 401, "AUTHENTICATION_FAILED")
    assert "expired" in answer["error"]
    status, listed = await http.get("/keys")
    assert {k["id"]: k for k in listed["keys"]}[body["key"]["id"]]["expired"] is True


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"role": "root"}, "role"),
        ({"role": "node"}, "node_id"),
        ({"role": "node", "node_id": "bad id!"}, "node_id"),
        ({"role": "admin", "expires_at": "yesterday"}, "expires_at"),
        ({"role": "admin", "expires_at": 1000}, "expires_at"),
        ({"role": "read-only", "node_id": "n"}, "node_id"),
    ],
)
async def test_bad_key_requests_get_the_envelope(
    http: Http, body: dict[str, object], field: str
) -> None:
    status, answer = await http.post("/keys", body)
    assert_error(status, answer, 400, "INVALID_REQUEST")
    assert field in {e["field"] for e in answer["details"]["errors"]}, answer


async def test_unknown_ids_and_other_roles(stack: Stack, http: Http) -> None:
    status, body = await http.delete("/keys/no-such-key")
    assert_error(status, body, 404, "KEY_NOT_FOUND")
    status, body = await http.delete("/keys/not a key!")
    assert_error(status, body, 404, "KEY_NOT_FOUND")
    status, body = await http.post("/keys", {"role": "read-only"})
    reader = keyed(stack, body["api_key"])
    for method, path in (("GET", "/keys"), ("POST", "/keys"), ("DELETE", "/keys/admin-env")):
        status, answer, _ = await reader.call(method, path, {} if method == "POST" else None)
        assert_error(status, answer, 403, "FORBIDDEN")
    status, body = await http.delete("/keys/admin-env")
    assert_error(status, body, 409, "LAST_ADMIN_KEY")


@pytest.fixture
async def second(stack: Stack, tmp_path: Path) -> AsyncIterator[ApiProcess]:
    replica = ApiProcess(stack.identities["api"], stack.namespace, tmp_path / "api2.log", ADMIN_KEY)
    try:
        await replica.wait_ready()
        yield replica
    finally:
        replica.stop()


async def test_a_revoked_key_is_refused_by_a_second_replica_within_2_s(
    stack: Stack, http: Http, second: ApiProcess
) -> None:
    status, body = await http.post("/keys", {"role": "read-only", "description": "replicas"})
    assert status == 200, body
    there = keyed(stack, body["api_key"], second.base)
    # the second replica knows the key made on the first (its watch brought it)
    assert (await there.get("/nodes"))[0] == 200
    status, _ = await http.delete(f"/keys/{body['key']['id']}")
    assert status == 200
    revoked = time.monotonic()
    while (await there.get("/nodes"))[0] == 200:
        assert time.monotonic() - revoked < 2.0, "the second replica still accepts the key"
        await asyncio.sleep(0.05)
    print(f"second replica refused the revoked key after {time.monotonic() - revoked:.3f} s")
    status, answer = await there.get("/nodes")
    assert_error(status, answer, 401, "AUTHENTICATION_FAILED")
    # a key that expires is refused there from its expiry on, with no write at all
    status, body = await http.post("/keys", {"role": "read-only", "expires_at": time.time() + 1.5})
    assert status == 200, body
    # it expires at its stored expires_at (whole seconds)
    expires_at = datetime.fromisoformat(
        body["key"]["expires_at"].replace("Z", "+00:00")
    ).timestamp()
    expiring = keyed(stack, body["api_key"], second.base)
    assert (await expiring.get("/nodes"))[0] == 200
    while (await expiring.get("/nodes"))[0] == 200:
        assert time.time() - expires_at < 2.0, "the second replica still accepts the key"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize(
    ("path", "raw", "field"),
    [
        ("/keys", '{"role": "admin", "description": "a\\u0000b"}', "description"),
        ("/keys", '{"role": "admin", "expires_at": NaN}', "expires_at"),
        ("/join-tokens", '{"ttl": Infinity}', "ttl"),
        ("/join-tokens", '{"uses": 9223372036854775808}', "uses"),
    ],
)
async def test_the_parse_boundary_holds_for_keys_and_tokens(
    stack: Stack, http: Http, api: client.ApiClient, path: str, raw: str, field: str
) -> None:
    """What Kubernetes could not store is a 400 naming the field, and nothing is written
    (the write routes of the Writer are table-tested in tests/unit/test_parse_boundary.py)."""
    core = client.CoreV1Api(api)
    before = await core.read_namespaced_secret("web4ai-api-keys", stack.namespace)
    status, body, _ = await http.call(
        "POST", path, data=raw.encode(), headers={"Content-Type": "application/json"}
    )
    assert_error(status, body, 400, "INVALID_REQUEST")
    assert any(e["field"].startswith(field) for e in body["details"]["errors"]), body
    after = await core.read_namespaced_secret("web4ai-api-keys", stack.namespace)
    assert after.metadata.resource_version == before.metadata.resource_version


async def test_a_revoked_key_ends_its_websocket_session(stack: Stack, http: Http) -> None:
    """Revocation ends the live feed too, not only new requests."""
    import websockets
    from websockets.exceptions import ConnectionClosed

    status, body = await http.post("/keys", {"role": "read-only"})
    assert status == 200, body
    url = stack.api.base.replace("http", "ws", 1) + "/ws"
    headers = {"Authorization": f"Bearer {body['api_key']}"}
    async with websockets.connect(url, additional_headers=headers) as ws:
        first = json.loads(await ws.recv())
        assert first["type"] == "initial_status"
        assert (await http.delete(f"/keys/{body['key']['id']}"))[0] == 200
        with pytest.raises(ConnectionClosed) as closed:
            async with asyncio.timeout(10):
                while True:
                    await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


async def test_the_openapi_document_has_the_new_calls(http: Http) -> None:
    status, doc = await http.get("/openapi.json")
    assert status == 200
    paths = doc["paths"]
    assert {"post", "get"} <= set(paths["/api/v1/keys"])
    assert "delete" in paths["/api/v1/keys/{key_id}"]
    assert {"post", "get"} <= set(paths["/api/v1/join-tokens"])
    assert "delete" in paths["/api/v1/join-tokens/{token_id}"]
    join = paths["/api/v1/join"]["post"]
    assert join["security"] == [] and "requestBody" in join
    created = paths["/api/v1/keys"]["post"]["responses"]["200"]["content"]["application/json"]
    assert "api_key" in created["schema"]["properties"]


async def test_last_use_is_recorded_coarsely_and_seen_by_other_replicas(
    stack: Stack, http: Http, api: client.ApiClient, second: ApiProcess
) -> None:
    """Uses are noted in memory and written at most once per key and half minute
    (never a write per request) into the usage ConfigMap, which every replica lists
    from; a key's first use is an Event."""
    status, body = await http.post("/keys", {"role": "read-only", "description": "usage"})
    key_id = body["key"]["id"]
    reader = keyed(stack, body["api_key"])
    core = client.CoreV1Api(api)

    async def versions() -> set[str]:
        try:
            cm = await core.read_namespaced_config_map("web4ai-api-key-usage", stack.namespace)
        except client.ApiException:
            return set()
        return {cm.metadata.resource_version} if key_id in (cm.data or {}) else set()

    seen: set[str] = set()
    for _ in range(40):  # 40 requests: their uses become one write, not forty
        assert (await reader.get("/nodes"))[0] == 200
        seen |= await versions()
        await asyncio.sleep(0.05)

    async def recorded() -> set[str]:
        return await versions()

    seen |= await eventually(recorded, within=45, interval=1)
    assert len(seen) == 1, seen
    status, listed = await keyed(stack, ADMIN_KEY, second.base).get("/keys")
    assert status == 200, listed
    assert {k["id"]: k for k in listed["keys"]}[key_id]["last_used"] is not None
    got = await core.list_namespaced_event(stack.namespace)
    assert any(e.reason == "ApiKeyUsed" and key_id in e.message for e in got.items)
