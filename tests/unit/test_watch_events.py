"""The raw watch stream as ``(type, object)`` events, shared by the list-watch of the
custom resources and the key Secret's watch: blank lines skipped, an ERROR event
raised (410 as ``Gone``, so that the caller relists), the response released however the
iteration ends."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import pytest
from kubernetes_asyncio.client.exceptions import ApiException

from web4ai.k8s.listwatch import Gone, read_json, watch_events


class Response:
    def __init__(self, *lines: bytes) -> None:
        self.lines, self.released = lines, 0

    @property
    def content(self) -> AsyncIterator[bytes]:
        async def lines() -> AsyncIterator[bytes]:
            for line in self.lines:
                yield line

        return lines()

    async def read(self) -> bytes:
        return b"".join(self.lines)

    def release(self) -> None:
        self.released += 1


def line(kind: str, obj: dict[str, Any]) -> bytes:
    return json.dumps({"type": kind, "object": obj}).encode() + b"\n"


async def events(response: Response) -> list[tuple[str, dict[str, Any]]]:
    return [e async for e in watch_events(response)]


async def test_events_in_order_blank_lines_skipped_and_released() -> None:
    response = Response(line("ADDED", {"a": 1}), b"\n", line("DELETED", {"b": 2}))
    assert await events(response) == [("ADDED", {"a": 1}), ("DELETED", {"b": 2})]
    assert response.released == 1


@pytest.mark.parametrize(("code", "error"), [(410, Gone), (500, ApiException)])
async def test_an_error_event_is_raised_and_the_response_released(
    code: int, error: type[Exception]
) -> None:
    response = Response(line("ADDED", {}), line("ERROR", {"code": code, "message": "m"}))
    with pytest.raises(error):
        await events(response)
    assert response.released == 1


async def test_a_closed_iteration_releases_the_response() -> None:
    response = Response(line("ADDED", {}), line("ADDED", {}))
    async with aclosing(watch_events(response)) as stream:
        async for _ in stream:
            break
    assert response.released == 1


async def test_a_list_is_read_and_released() -> None:
    response = Response(b'{"items": [], "metadata": {"resourceVersion": "5"}}')
    assert await read_json(response) == {"items": [], "metadata": {"resourceVersion": "5"}}
    assert response.released == 1
