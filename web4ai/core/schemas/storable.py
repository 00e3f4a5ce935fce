"""The parse boundary: what Python's JSON reads and Kubernetes would refuse to store is
refused here, before any write, with the path of each offending value.

Refused at any depth: a number that is not finite (``NaN``, ``Infinity``, or one too
large for a double such as ``1e999``), an integer outside 64 bits, nesting deeper than
``DEPTH_MAX`` levels (the body itself is level 1) and a string, or an object key, that
holds a NUL character. Pure: no I/O."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from pydantic import BaseModel

from web4ai.core.limits import DEPTH_MAX, INT_MAX, INT_MIN
from web4ai.core.validation import FieldError, ValidationFailed

Loc = tuple[int | str, ...]
PROBLEMS_MAX = 20  # reported at most; the rest are the same story

NOT_FINITE = "must be a finite number"
NOT_INT64 = f"must be an integer from {INT_MIN} to {INT_MAX}"
TOO_DEEP = f"must not nest deeper than {DEPTH_MAX} levels"
HAS_NUL = "must not contain NUL characters"
KEY_HAS_NUL = "must not have a key that contains NUL characters"


class Malformed(ValueError):
    """The body is not JSON at all (400 INVALID_JSON)."""


def field_name(loc: Loc) -> str:
    """``("agents", 0, "agent_id")`` -> ``agents[0].agent_id``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def problems(value: Any) -> list[FieldError]:
    """Every value of a parsed body (plain JSON data, or a model whose fields hold it)
    that could not be stored, by path; empty when all of it can."""
    found: list[tuple[Loc, str]] = []
    if _container(value):
        _walk(value, (), 1, found)
    else:
        _check(value, (), found)
    return [FieldError(field_name(loc), message) for loc, message in found[:PROBLEMS_MAX]]


def check(value: Any) -> None:
    """Raise ``ValidationFailed`` (400 INVALID_REQUEST) for what ``problems`` finds."""
    found = problems(value)
    if found:
        raise ValidationFailed(found)


def _container(value: Any) -> bool:
    kind = type(value)
    return kind is dict or kind is list or isinstance(value, BaseModel)


def _check(value: Any, loc: Loc, found: list[tuple[Loc, str]]) -> None:
    """A scalar: a string, a number, true, false or null."""
    kind = type(value)
    if kind is str:
        if "\x00" in value:
            found.append((loc, HAS_NUL))
    elif kind is float:
        if not math.isfinite(value):
            found.append((loc, NOT_FINITE))
    elif kind is int and not INT_MIN <= value <= INT_MAX:
        found.append((loc, NOT_INT64))


def _walk(value: Any, loc: Loc, depth: int, found: list[tuple[Loc, str]]) -> None:
    """A container at ``depth`` (the body is 1): its items, scalars checked in line (a
    body is mostly scalars), containers one level deeper."""
    if depth > DEPTH_MAX:
        found.append((loc, TOO_DEEP))
        return
    kind = type(value)
    items: Any = (
        enumerate(value) if kind is list else (value if kind is dict else value.__dict__).items()
    )
    for key, item in items:
        if kind is not list and "\x00" in key:
            found.append((loc, KEY_HAS_NUL))
            continue
        item_kind = type(item)
        if item_kind is str:
            if "\x00" in item:
                found.append(((*loc, key), HAS_NUL))
        elif item_kind is float:
            if not math.isfinite(item):
                found.append(((*loc, key), NOT_FINITE))
        elif item_kind is int:
            if not INT_MIN <= item <= INT_MAX:
                found.append(((*loc, key), NOT_INT64))
        elif item_kind is dict or item_kind is list or isinstance(item, BaseModel):
            _walk(item, (*loc, key), depth + 1, found)


TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{},:]', re.S)


def too_deep_at(raw: bytes) -> Loc | None:
    """Where JSON text first nests deeper than ``DEPTH_MAX`` (read token by token, for
    text too deep for the JSON parser's own recursion); None when it does not."""
    stack: list[list[Any]] = []  # per open container: [is_object, current key or index]
    last = b'""'
    for match in TOKEN.finditer(raw):
        token = match.group()
        char = token[:1]
        if char == b'"':
            last = token
        elif char in (b"[", b"{"):
            if len(stack) >= DEPTH_MAX:
                return tuple(entry[1] for entry in stack)
            stack.append([char == b"{", "" if char == b"{" else 0])
        elif char in (b"]", b"}"):
            if stack:
                stack.pop()
        elif char == b":" and stack and stack[-1][0]:
            stack[-1][1] = json.loads(last)
        elif char == b"," and stack and not stack[-1][0]:
            stack[-1][1] += 1
    return None


def load(raw: bytes) -> Any:
    """``raw`` (a request body) as JSON data that can be stored; an empty body is ``{}``.
    Raises ``Malformed`` for what is not JSON, ``ValidationFailed`` for the rest."""
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except RecursionError:
        loc = too_deep_at(raw)
        raise ValidationFailed([FieldError(field_name(loc or ()), TOO_DEEP)]) from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise Malformed(str(exc)) from None
    check(data)
    return data
