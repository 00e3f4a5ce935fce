"""Mapping between the ids users speak and Kubernetes object names.

The API speaks the ids users give (``node_001``, ``task_abc123``). Object
names must be DNS-1123 subdomains, so an id maps to a name deterministically:

* an id that already is a valid name made only of ``[a-z0-9-]`` is its own
  name (``enhanced-node-abc123`` -> ``enhanced-node-abc123``);
* any other id is lower-cased, ``_`` and ``.`` become ``-``, and a dot plus a
  short hash of the exact id is appended (``Node_001`` ->
  ``node-001.k2j4...``).

Names of the first kind never contain a dot and names of the second kind
always do, so the two kinds cannot collide; within the second kind distinct
ids differ in their hash. The exact id is kept in a label
(``web4ai.io/node-id``, ``web4ai.io/task-id``) and in the spec, so an id must
itself be a valid label value: 1 to 63 characters of ``[A-Za-z0-9._-]``,
starting and ending with a letter or digit. Anything else is rejected with
:class:`InvalidId`, which the API turns into a 400.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from enum import Enum

MAX_ID_LENGTH = 63
HASH_LENGTH = 12  # base32 characters: 60 bits

_ID_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
_PLAIN_NAME_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")


class IdKind(Enum):
    """The kinds of object that carry a user-given id."""

    NODE = "node"
    TASK = "task"

    @property
    def label(self) -> str:
        return f"web4ai.io/{self.value}-id"


class InvalidId(ValueError):
    """An id that cannot be kept exactly in a Kubernetes label."""

    def __init__(self, kind: IdKind, value: object, reason: str) -> None:
        super().__init__(f"invalid {kind.value}_id {value!r}: {reason}")
        self.kind = kind
        self.value = value
        self.reason = reason


def validate_id(kind: IdKind, value: object) -> str:
    """Return ``value`` if it can be used as an id of ``kind``, else raise InvalidId."""
    if not isinstance(value, str):
        raise InvalidId(kind, value, "must be a string")
    if not value:
        raise InvalidId(kind, value, "must not be empty")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidId(kind, value, f"must be at most {MAX_ID_LENGTH} characters")
    if not _ID_RE.fullmatch(value):
        raise InvalidId(
            kind,
            value,
            "may contain only letters, digits, '-', '_' and '.', "
            "and must start and end with a letter or digit",
        )
    return value


def _digest(value: str) -> str:
    raw = hashlib.sha256(value.encode("utf-8")).digest()
    return base64.b32encode(raw).decode("ascii").lower()[:HASH_LENGTH]


def object_name(kind: IdKind, value: object) -> str:
    """The object name for an id (see the module docstring)."""
    ident = validate_id(kind, value)
    if _PLAIN_NAME_RE.fullmatch(ident):
        return ident
    sanitized = ident.lower().replace("_", "-").replace(".", "-")
    return f"{sanitized}.{_digest(ident)}"


@dataclass(frozen=True)
class ObjectIdentity:
    """Where an id lives on its object: the name and the label."""

    name: str
    labels: dict[str, str]


def identity(kind: IdKind, value: object) -> ObjectIdentity:
    ident = validate_id(kind, value)
    return ObjectIdentity(name=object_name(kind, ident), labels={kind.label: ident})


NODE_LEASE_PREFIX = "web4ai-node-"


def node_lease_name(node_object_name: str) -> str:
    """The Lease of a node: in a name space of its own, so that no node id can name the
    leader Lease or anyone else's (``web4ai-operator``, ``kube-scheduler``...)."""
    return NODE_LEASE_PREFIX + node_object_name


def new_task_id(entropy: bytes) -> str:
    """A fresh task id from caller-supplied randomness; it is its own object name."""
    if len(entropy) < 8:
        raise ValueError("need at least 8 bytes of entropy")
    return "task-" + entropy.hex()[:16]
