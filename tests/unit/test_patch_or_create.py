"""The two ways the key Secret, the join-token Secret and the key-usage ConfigMap are
written when they may not exist: patch, else create (else patch again when another
writer created it meanwhile), and a read or patch that takes a 404 as 'not there'.
Errors come out typed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from kubernetes_asyncio.client.exceptions import ApiException

from web4ai.k8s.apikeys import patch_or_create
from web4ai.k8s.errors import Conflict, Invalid, NotFound, unless_gone


def step(calls: list[str], name: str, *statuses: int) -> Callable[[], Awaitable[str]]:
    """A write that fails with each of ``statuses`` in turn, then succeeds."""
    left = list(statuses)

    async def call() -> str:
        calls.append(name)
        if left:
            raise ApiException(status=left.pop(0))
        return name

    return call


@pytest.mark.parametrize(
    ("patch", "create", "calls"),
    [
        ((), (), ["patch"]),  # it exists
        ((404,), (), ["patch", "create"]),  # it does not: created
        ((404,), (409,), ["patch", "create", "patch"]),  # created meanwhile: patched
    ],
)
async def test_patch_else_create_else_patch(
    patch: tuple[int, ...], create: tuple[int, ...], calls: list[str]
) -> None:
    made: list[str] = []
    await patch_or_create(step(made, "patch", *patch), step(made, "create", *create))
    assert made == calls


@pytest.mark.parametrize(
    ("patch", "create", "error"),
    [((422,), (), Invalid), ((404,), (422,), Invalid), ((404, 404), (409,), NotFound)],
)
async def test_other_errors_are_raised_typed(
    patch: tuple[int, ...], create: tuple[int, ...], error: type[Exception]
) -> None:
    made: list[str] = []
    with pytest.raises(error):
        await patch_or_create(step(made, "patch", *patch), step(made, "create", *create))


async def test_unless_gone() -> None:
    made: list[str] = []
    assert await unless_gone(step(made, "read")()) == "read"
    assert await unless_gone(step(made, "read", 404)()) is None
    with pytest.raises(Conflict):
        await unless_gone(step(made, "read", 409)())
