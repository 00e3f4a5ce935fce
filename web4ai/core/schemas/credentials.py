"""Request and response models of the keys and join-token API (``POST /keys``,
``POST /join-tokens``, ``POST /join`` and their lists), in the style of
``web4ai.core.schemas``. Checks across fields (a node key needs a ``node_id``) are
``problems``, so that each is reported on its own field. Pure: no I/O."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field

from web4ai.core import jointokens as jt
from web4ai.core.durations import parse_duration
from web4ai.core.keys import DESCRIPTION_MAX, parse_iso
from web4ai.core.schemas.fields import NO_CONTROL, Names, NodeId, integral
from web4ai.core.schemas.requests import Registration, Request
from web4ai.core.schemas.responses import Ok, Response
from web4ai.core.validation import FieldError, ValidationFailed


def _ttl(v: str | float) -> float:
    seconds = parse_duration(v)
    if seconds <= 0:
        raise ValueError("must be more than 0 seconds")
    if seconds > jt.MAX_TTL:
        raise ValueError(f"must be at most {jt.MAX_TTL / 86400:g} days ({jt.MAX_TTL:.0f} seconds)")
    return seconds


def _time(v: str | float) -> float:
    try:
        ts = parse_iso(v)
    except (ValueError, OverflowError):
        raise ValueError(
            "must be an RFC 3339 time (2026-12-31T00:00:00Z) or Unix seconds"
        ) from None
    assert ts is not None
    return ts


Description = Annotated[str, Field(max_length=DESCRIPTION_MAX, pattern=NO_CONTROL)]
Ttl = Annotated[str | float, AfterValidator(_ttl)]
When = Annotated[str | float, AfterValidator(_time)]
Uses = Annotated[int, Field(ge=1, le=jt.MAX_USES), BeforeValidator(integral)]
NodePrefix = Annotated[
    str, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
]


class KeyCreate(Request):
    """POST /keys."""

    role: Literal["admin", "read-only", "node"]
    node_id: NodeId | None = None
    capabilities: Names | None = None
    expires_at: When | None = None
    description: Description | None = None

    def problems(self, now: float) -> None:
        """Raise ``ValidationFailed`` for what the fields cannot say alone."""
        errors: list[FieldError] = []
        if self.role == "node" and self.node_id is None:
            errors.append(FieldError("node_id", "is required for a node key"))
        if self.role != "node":
            for name in ("node_id", "capabilities"):
                if getattr(self, name) is not None:
                    errors.append(FieldError(name, "is only for node keys"))
        if self.expires_at is not None and float(self.expires_at) <= now:
            errors.append(FieldError("expires_at", "must be in the future"))
        if errors:
            raise ValidationFailed(errors)


class JoinTokenCreate(Request):
    """POST /join-tokens."""

    ttl: Ttl = Field(default=jt.DEFAULT_TTL, description="seconds, or text such as 24h, 7d")
    uses: Uses = jt.DEFAULT_USES
    capabilities: Names | None = None
    node_prefix: NodePrefix | None = None
    description: Description | None = None


class JoinRequest(Registration):
    """POST /join: the registration of the joining node, with the id it asks for
    (without one it is named ``<node_prefix><8 characters>``)."""

    node_id: NodeId | None = None


# -- responses -------------------------------------------------------------------------


class KeyView(Response):
    id: str
    role: Literal["admin", "read-only", "node"]
    node_id: str | None
    capabilities: list[str] | None
    description: str | None
    created_at: str | None
    created_by: str | None
    expires_at: str | None
    expired: bool
    last_used: str | None


class KeyCreated(Ok):
    key: KeyView
    api_key: str = Field(description="the key itself: shown once, stored only as a hash")


class KeyList(Ok):
    keys: list[KeyView]


class KeyRevoked(Ok):
    id: str


class JoinTokenView(Response):
    id: str
    state: Literal["active", "expired", "used_up", "revoked"]
    uses: int
    used: int
    remaining: int
    capabilities: list[str] | None
    node_prefix: str | None
    description: str | None
    created_at: str | None
    created_by: str | None
    expires_at: str | None
    revoked_at: str | None
    revoked_by: str | None


class JoinTokenCreated(Ok):
    join_token: JoinTokenView
    token: str = Field(description="[a-z0-9]{6}.[a-z0-9]{16}: shown once")


class JoinTokenList(Ok):
    join_tokens: list[JoinTokenView]


class JoinTokenRevoked(Ok):
    id: str


class Joined(Ok):
    node_id: str
    key_id: str
    api_key: str = Field(description="the node's own key: shown once; keep it")
    heartbeat_interval: float
