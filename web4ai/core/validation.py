"""What is left of hand-written validation: the error types of the API's 400s, and the
free-text and result fields, which are cut to fit rather than refused. The request
models themselves are ``web4ai.core.schemas``. Pure."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from web4ai.core import limits as lim
from web4ai.core.limits import truncate


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class ValidationFailed(ValueError):
    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))


def clean_text(v: str) -> str:
    """``v`` as storable Unicode: lone surrogates (which JSON allows and UTF-8 does not)
    become U+FFFD; everything else, newlines and tabs included, is kept."""
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:
        return v.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return v


def text(max_len: int) -> Callable[[str], str]:
    """Free text (error messages, text results): any Unicode, newlines and tabs included;
    longer text is cut to ``max_len`` with a marker, never refused."""

    def check(v: str) -> str:
        return truncate(clean_text(v), max_len)

    return check


def bounded_result(v: Any) -> Any:
    """A task's result: any JSON value. One larger than RESULT_MAX_BYTES as JSON is kept as
    its JSON text cut to fit, with a marker, never refused."""
    if isinstance(v, str):
        v = clean_text(v)
    try:
        size = json_size(v)
    except (TypeError, ValueError, UnicodeEncodeError):
        v = clean_text(json.dumps(v, ensure_ascii=False, default=str))
        size = json_size(v)
    if size <= lim.RESULT_MAX_BYTES:
        return v
    as_text = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
    # characters are up to 4 bytes (6 when escaped); cut by characters until it fits
    keep = lim.RESULT_MAX_BYTES // 2
    cut = truncate(as_text, keep)
    while json_size(cut) > lim.RESULT_MAX_BYTES:
        keep //= 2
        cut = truncate(as_text, keep)
    return cut


def json_size(v: Any) -> int:
    """Bytes of ``v`` as compact JSON (how it is stored)."""
    return len(json.dumps(v, separators=(",", ":"), ensure_ascii=False).encode())
