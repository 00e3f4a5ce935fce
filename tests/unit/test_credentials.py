"""Keys and join tokens as pure rules: entries, expiry, listing without secrets, token
shape and refusals, node ids; durations for people; the API URL from what is typed."""

from __future__ import annotations

import pytest

from web4ai.core import jointokens as jt
from web4ai.core.durations import human_duration, parse_duration
from web4ai.core.keys import KeyRecord, admins_left, iso, parse_entry, usage_due
from web4ai.core.schemas import credentials as cs
from web4ai.core.schemas.errors import parse
from web4ai.core.urls import api_base
from web4ai.core.validation import ValidationFailed

NOW = 1_800_000_000.0


def test_a_hand_written_entry_is_a_key() -> None:
    record = parse_entry("node-7", {"sha256": "ab", "role": "node", "node_id": "node-7"})
    assert record == KeyRecord("node-7", "ab", "node", "node-7")
    listed = record.listing(None, NOW)
    assert listed["id"] == "node-7" and listed["expires_at"] is None
    assert "sha256" not in listed and "ab" not in listed.values()


@pytest.mark.parametrize(
    "doc",
    [
        {"role": "admin"},
        {"sha256": "x", "role": "root"},
        {"sha256": "x", "role": "node", "capabilities": "a"},
    ],
)
def test_malformed_entries_are_refused(doc: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        parse_entry("k", doc)


def test_entries_round_trip_and_expire() -> None:
    record = KeyRecord("key-1", "ab", "node", "n1", ("gpu",), NOW + 60, "for n1", NOW - 10, "admin")
    assert parse_entry("key-1", record.doc()) == record
    assert not record.expired(NOW) and record.expired(NOW + 60)
    assert record.listing(NOW - 5, NOW)["last_used"] == iso(NOW - 5)
    assert record.listing(None, NOW + 61)["expired"] is True


def test_the_last_admin_is_counted() -> None:
    keys = {
        "a": KeyRecord("a", "1", "admin"),
        "b": KeyRecord("b", "2", "admin", expires_at=NOW - 1),
        "c": KeyRecord("c", "3", "read-only"),
    }
    assert admins_left(keys, "a", NOW) == 0
    assert admins_left(keys, "c", NOW) == 1


def test_last_use_is_written_at_most_once_a_minute() -> None:
    assert usage_due(NOW, None, 60)
    assert not usage_due(NOW + 59, NOW, 60)
    assert usage_due(NOW + 60, NOW, 60)


def test_token_shape() -> None:
    assert jt.split_token("abc123.0123456789abcdef") == ("abc123", "0123456789abcdef")
    for bad in ("ABC123.0123456789abcdef", "abc12.0123456789abcdef", "abc123-0123456789abcdef", ""):
        assert jt.split_token(bad) is None


def token(**kw: object) -> jt.TokenRecord:
    fields: dict[str, object] = {"id": "abc123", "sha256": "d", "uses": 2, "expires_at": NOW + 10}
    return jt.TokenRecord(**(fields | kw))  # type: ignore[arg-type]


def test_token_refusals_say_which() -> None:
    assert jt.refusal(None, False, NOW) == "unknown"
    assert jt.refusal(token(), False, NOW) == "unknown"
    assert jt.refusal(token(), True, NOW) is None
    assert jt.refusal(token(), True, NOW + 10) == "expired"
    assert jt.refusal(token(used=2), True, NOW) == "used_up"
    assert jt.refusal(token(revoked_at=NOW - 1, revoked_by="admin"), True, NOW) == "revoked"
    assert jt.refusal(token().one_used().one_used(), True, NOW) == "used_up"
    assert token(used=1).one_returned().used == 0
    for why in ("malformed", "unknown", "expired", "used_up", "revoked"):
        assert why.replace("_", " ") in jt.REFUSALS[why]


def test_token_entries_round_trip_without_secrets_in_the_list() -> None:
    record = token(capabilities=("gpu",), node_prefix="gpu-", created_at=NOW, created_by="admin")
    assert jt.parse_token_entry("abc123", record.doc()) == record
    listed = record.listing(NOW)
    assert listed["state"] == "active" and listed["remaining"] == 2
    assert "sha256" not in listed


def test_joined_node_ids_carry_the_prefix() -> None:
    assert jt.join_node_id(token(node_prefix="gpu-"), None, "x1") == ("gpu-x1", None)
    assert jt.join_node_id(token(), None, "x1") == ("node-x1", None)
    assert jt.join_node_id(token(node_prefix="gpu-"), "gpu-7", "x") == ("gpu-7", None)
    assert jt.join_node_id(token(node_prefix="gpu-"), "cpu-7", "x")[1] is not None


def fields_of(exc: ValidationFailed) -> set[str]:
    return {e.field for e in exc.errors}


def test_key_requests_are_checked_field_by_field() -> None:
    with pytest.raises(ValidationFailed) as bad:
        parse(cs.KeyCreate, b'{"role": "root"}')
    assert fields_of(bad.value) == {"role"}
    node = parse(cs.KeyCreate, b'{"role": "node"}')
    with pytest.raises(ValidationFailed) as missing:
        node.problems(NOW)
    assert fields_of(missing.value) == {"node_id"}
    with pytest.raises(ValidationFailed) as extra:
        parse(cs.KeyCreate, b'{"role": "admin", "node_id": "n", "expires_at": 1}').problems(NOW)
    assert fields_of(extra.value) == {"node_id", "expires_at"}
    ok = parse(
        cs.KeyCreate, b'{"role": "node", "node_id": "n", "expires_at": "2099-01-01T00:00:00Z"}'
    )
    ok.problems(NOW)
    assert ok.expires_at == 4070908800.0


@pytest.mark.parametrize(
    "when", [b"4.19e16", b"1e300", b"-1", b"253402300800", b'"10000-01-01T00:00:00Z"']
)
def test_an_expiry_no_listing_could_show_is_refused(when: bytes) -> None:
    # found by the fuzz test: a float past year 9999 passed and the listing's
    # rendering of it answered 500
    with pytest.raises(ValidationFailed) as bad:
        parse(cs.KeyCreate, b'{"role": "admin", "expires_at": ' + when + b"}")
    assert fields_of(bad.value) == {"expires_at"}


def test_token_requests_bound_ttl_and_uses() -> None:
    default = parse(cs.JoinTokenCreate, b"{}")
    assert (default.ttl, default.uses) == (86400.0, 1)
    assert parse(cs.JoinTokenCreate, b'{"ttl": "7d", "uses": 100}').ttl == 604800.0
    for body, field in (
        (b'{"ttl": "8d"}', "ttl"),
        (b'{"ttl": 604801}', "ttl"),
        (b'{"ttl": "soon"}', "ttl"),
        (b'{"uses": 0}', "uses"),
        (b'{"uses": -3}', "uses"),
        (b'{"node_prefix": "-x"}', "node_prefix"),
    ):
        with pytest.raises(ValidationFailed) as bad:
            parse(cs.JoinTokenCreate, body)
        assert fields_of(bad.value) == {field}, body


def test_durations_for_people() -> None:
    assert human_duration(1.9e-05) == "19 µs"
    assert human_duration(0.34) == "340 ms"
    assert human_duration(1.2) == "1.2 s"
    assert human_duration(184) == "3 m 04 s"
    assert human_duration(7500) == "2 h 05 m"
    assert human_duration(3 * 86400 + 4 * 3600) == "3 d 04 h"
    assert human_duration(None) == ""
    assert parse_duration("1h30m") == 5400 and parse_duration("90") == 90
    with pytest.raises(ValueError):
        parse_duration("24 hours")


@pytest.mark.parametrize(
    "typed",
    [
        "http://host:9000",
        "http://host:9000/",
        "host:9000",
        "http://host:9000/api/v1",
        "http://host:9000/api/v1/",
        "http://host:9000/api",
    ],
)
def test_the_api_base_from_the_root_or_the_base(typed: str) -> None:
    assert api_base(typed) == "http://host:9000/api/v1"


def test_a_path_prefix_is_kept() -> None:
    assert api_base("https://h/web4ai/") == "https://h/web4ai/api/v1"
