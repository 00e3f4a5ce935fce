"""The API's key store without a cluster: entries of the Secret in, principals out;
expiry refused at once by the store's clock; a key made or revoked here applies at
once; what an open WebSocket session is checked against; uses noted in memory."""

from __future__ import annotations

import asyncio
import base64
import json

from web4ai.api.auth import KeyStore, Principal
from web4ai.core.keys import KeyRecord
from web4ai.k8s.apikeys import digest


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def entry(doc: dict[str, object]) -> str:
    return base64.b64encode(json.dumps(doc).encode()).decode()


def store(clock: Clock) -> KeyStore:
    keys = KeyStore(None, "test", clock=clock)
    keys.load(
        {
            "by-hand": entry({"sha256": digest("hand-key"), "role": "node", "node_id": "n7"}),
            "key-1": entry(
                {
                    "sha256": digest("short-key"),
                    "role": "read-only",
                    "expires_at": "2027-01-15T08:00:10Z",
                }
            ),
            "broken": "not base64 json",
            "unknown-role": entry({"sha256": digest("x"), "role": "root"}),
        }
    )
    return keys


def test_entries_become_principals_and_malformed_ones_are_skipped() -> None:
    keys = store(Clock(1_800_000_000.0))
    assert set(keys.records) == {"by-hand", "key-1"}
    found = keys.authenticate("hand-key")
    assert found == Principal("by-hand", "node", "n7")
    assert keys.authenticate("x") is None


def test_expiry_is_refused_at_once_and_said() -> None:
    clock = Clock(1_800_000_000.0)  # 2027-01-15T08:00:00Z
    keys = store(clock)
    assert keys.authenticate("short-key") is not None
    clock.now += 10
    assert keys.authenticate("short-key") is None
    assert keys.refusal("short-key") == "API key expired"
    assert keys.refusal("nope") == "Invalid or missing API key"
    assert keys.refusal(None) == "Invalid or missing API key"


def test_uses_are_noted_in_memory_only() -> None:
    clock = Clock(1_800_000_000.0)
    keys = store(clock)
    keys.authenticate("hand-key")
    clock.now += 5
    keys.authenticate("hand-key")
    assert keys.used == {"by-hand": 1_800_000_005.0}


def test_a_key_applied_or_forgotten_here_holds_at_once() -> None:
    clock = Clock(1_800_000_000.0)
    keys = store(clock)
    record = KeyRecord("key-2", digest("new-key"), "admin")
    keys.apply(record)
    principal = keys.authenticate("new-key")
    assert principal is not None and keys.still_valid(principal, clock.now)
    keys.forget("key-2")
    assert keys.authenticate("new-key") is None
    assert not keys.still_valid(principal, clock.now)
    # a session of a key whose entry changed role is no longer valid either
    hand = keys.authenticate("hand-key")
    assert hand is not None
    keys.apply(KeyRecord("by-hand", digest("hand-key"), "read-only"))
    assert not keys.still_valid(hand, clock.now)


def test_the_secret_gone_means_no_keys() -> None:
    keys = store(Clock(1_800_000_000.0))
    keys.load({})
    assert keys.records == {} and keys.authenticate("hand-key") is None


async def test_a_miss_between_re_reads_waits_for_the_watch() -> None:
    """A key minted on another replica, used here before this replica's watch brought
    it and while a re-read is not due: the request waits for the watch's next change."""
    clock = Clock(1_800_000_000.0)
    keys = store(clock)
    keys.reloaded_at = clock.now  # a re-read just happened
    waiting = asyncio.create_task(keys.authenticate_fresh("minted-elsewhere", clock.now))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    keys.load({"key-9": entry({"sha256": digest("minted-elsewhere"), "role": "read-only"})})
    found = await asyncio.wait_for(waiting, 1)
    assert found is not None and found.name == "key-9"
