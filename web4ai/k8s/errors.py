"""Typed errors of the API server, so callers outside ``web4ai.k8s`` never import
kubernetes_asyncio.

Each is still a kubernetes_asyncio ``ApiException`` (same ``status``, ``reason``,
``body``), so code that handles API errors generically keeps working.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from kubernetes_asyncio.client.exceptions import ApiException

T = TypeVar("T")


class K8sError(ApiException):
    """An error answer of the API server."""

    status: int
    reason: str | None
    body: str | bytes | None  # type: ignore[assignment]  # the text of the answer

    def __init__(
        self, status: int, reason: str | None = None, body: str | bytes | None = None
    ) -> None:
        super().__init__(status=status, reason=reason)
        self.body = body


class NotFound(K8sError):
    """404: the object is gone."""


class Conflict(K8sError):
    """409: it exists already, or someone changed it first (resourceVersion)."""


class Invalid(K8sError):
    """422: the API server's schema rejected it."""


RACED: tuple[type[K8sError], ...] = (NotFound, Conflict)
"""Lost a race: the object went away, or changed since it was read."""

_BY_STATUS: dict[int, type[K8sError]] = {404: NotFound, 409: Conflict, 422: Invalid}


def answer_error(
    status: int, reason: str | None, body: str | bytes | None, headers: Any = None
) -> K8sError:
    """The typed error of an error answer: its status, HTTP reason, body (the API
    server's Status, as text) and headers."""
    err = _BY_STATUS.get(status, K8sError)(status, reason, body)
    err.headers = headers
    return err


def typed(exc: ApiException) -> K8sError:
    """``exc`` as the typed error of its status."""
    if isinstance(exc, K8sError):
        return exc
    return answer_error(exc.status or 0, exc.reason, exc.body, exc.headers)


@contextmanager
def translated() -> Iterator[None]:
    """Re-raise an ApiException inside the block as its typed error."""
    try:
        yield
    except ApiException as exc:
        raise typed(exc) from exc


async def unless_gone(call: Awaitable[T]) -> T | None:
    """``call``'s result, or None when its object is not there (404); any other error
    raised typed."""
    try:
        return await call
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise typed(exc) from exc


def http_detail(exc: BaseException) -> str | None:
    """``HTTP <status> <reason>: <body>`` of an API server error, None for any other."""
    if isinstance(exc, ApiException):
        return f"HTTP {exc.status} {exc.reason}: {str(exc.body)[:300]}"
    return None
