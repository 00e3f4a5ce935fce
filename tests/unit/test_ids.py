"""The id <-> object-name mapping of DESIGN.md."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from web4ai.core.ids import (
    IdKind,
    InvalidId,
    identity,
    new_task_id,
    object_name,
    validate_id,
)

# Kubernetes' own rules (apimachinery validation): DNS-1123 subdomain and label value.
DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")

valid_ids = st.from_regex(r"\A[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?\Z")
hostile = st.text(min_size=0, max_size=80)  # any unicode, control characters, empty


def assert_valid_name(name: str) -> None:
    assert len(name) <= 253
    assert DNS1123_SUBDOMAIN.fullmatch(name), name


@pytest.mark.parametrize(
    ("ident", "name"),
    [
        ("enhanced-node-abc123", "enhanced-node-abc123"),
        ("node-1", "node-1"),
        ("a", "a"),
    ],
)
def test_plain_ids_are_their_own_name(ident: str, name: str) -> None:
    assert object_name(IdKind.NODE, ident) == name


@pytest.mark.parametrize("ident", ["node_001", "Node-1", "task.abc", "ABC", "x_y.Z"])
def test_other_ids_get_a_hashed_name(ident: str) -> None:
    name = object_name(IdKind.TASK, ident)
    sanitized, digest = name.split(".")
    assert sanitized == ident.lower().replace("_", "-").replace(".", "-")
    assert len(digest) == 12
    assert_valid_name(name)


@pytest.mark.parametrize(
    "bad",
    ["", "-node", "node-", "_x", "a b", "nodé", "a/b", "a\x00b", "x" * 64, "tab\t", 17, None],
)
def test_ids_that_cannot_be_kept_are_rejected(bad: object) -> None:
    with pytest.raises(InvalidId) as info:
        object_name(IdKind.NODE, bad)
    assert "node_id" in str(info.value)


@settings(max_examples=3000)
@given(valid_ids)
def test_round_trip_and_validity(ident: str) -> None:
    ident_ = identity(IdKind.NODE, ident)
    assert_valid_name(ident_.name)
    for key, value in ident_.labels.items():
        assert key == "web4ai.io/node-id"
        assert len(value) <= 63 and LABEL_VALUE.fullmatch(value)
    assert ident_.labels[IdKind.NODE.label] == ident  # the label carries the id
    assert object_name(IdKind.NODE, ident) == ident_.name  # deterministic


@settings(max_examples=3000)
@given(hostile)
def test_hostile_input_is_valid_or_rejected_never_broken(text: str) -> None:
    try:
        ident = validate_id(IdKind.TASK, text)
    except InvalidId:
        assert not (text and len(text) <= 63 and LABEL_VALUE.fullmatch(text))
        return
    assert ident == text
    assert_valid_name(object_name(IdKind.TASK, ident))


@settings(max_examples=500)
@given(st.lists(valid_ids, min_size=2, max_size=50, unique=True))
def test_distinct_ids_never_collide(ids: list[str]) -> None:
    names = [object_name(IdKind.TASK, i) for i in ids]
    assert len(set(names)) == len(ids)


def test_no_collisions_among_case_and_separator_variants() -> None:
    # The ids most likely to collide after sanitising: every case and separator
    # variant of the same stem, plus plain ids crafted to look like hashed names.
    stems = ["node-1", "task-abc", "a-b-c"]
    ids: set[str] = set()
    for stem in stems:
        for mask in range(2 ** len(stem)):
            chars = [c.upper() if mask >> i & 1 else c for i, c in enumerate(stem)]
            base = "".join(chars)
            for sep in "-_.":
                ids.add(base.replace("-", sep))
    crafted = {object_name(IdKind.NODE, i).replace(".", "-") for i in list(ids)[:50]}
    ids |= crafted
    names = {object_name(IdKind.NODE, i) for i in ids}
    assert len(names) == len(ids)
    assert len(ids) > 300


def test_new_task_ids_are_valid_names() -> None:
    ident = new_task_id(bytes(range(16)))
    assert object_name(IdKind.TASK, ident) == ident
    with pytest.raises(ValueError):
        new_task_id(b"short")


def test_node_leases_live_in_their_own_name_space() -> None:
    from web4ai.core.ids import node_lease_name

    for node in ("web4ai-operator", "kube-scheduler", "web4ai", "Web4AI_Node.1"):
        name = node_lease_name(object_name(IdKind.NODE, node))
        assert name.startswith("web4ai-node-")
        assert name not in ("web4ai-operator", "kube-scheduler", "web4ai")
        assert len(name) <= 253 and name == name.lower()
