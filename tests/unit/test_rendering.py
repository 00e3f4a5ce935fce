"""Reads served from pre-rendered bytes answer exactly what rendering per request did."""

from __future__ import annotations

import gzip
import json
from typing import Any

from web4ai.api.presenting import status_parts
from web4ai.api.rendering import Rendered


def test_status_parts_around_clock_and_counters_make_the_whole_document() -> None:
    doc: dict[str, Any] = {
        "success": True,
        "data": {
            "orchestrator_id": 'orch "main"',
            "timestamp": 1700000000.25,
            "uptime": 12.5,
            "paused": False,
            "nodes": {"total": 2, "by_status": {"active": 2}},
            "tasks": {"pending": 1, "completed": 3},
        },
        "api_stats": {"requests_total": 7, "start_time": "2026-01-01T00:00:00Z"},
    }
    head, rest = status_parts(doc)
    data = doc["data"]
    assembled = b"".join(
        (
            head,
            json.dumps(data["timestamp"]).encode(),
            b', "uptime": ',
            json.dumps(data["uptime"]).encode(),
            rest,
            json.dumps(doc["api_stats"]).encode(),
            b"}",
        )
    )
    assert assembled == json.dumps(doc).encode()


def test_rendered_gzip_is_made_once_and_decompresses_to_the_body() -> None:
    rendered = Rendered(json.dumps({"nodes": ["x" * 10] * 1000}).encode())
    first = rendered.gzipped
    assert rendered.gzipped is first
    assert gzip.decompress(first) == rendered.body


def test_a_spliced_gzip_decompresses_to_the_rendered_body() -> None:
    import zlib

    from web4ai.api.rendering import Template

    big = json.dumps({"by_node": {f"node-{i:04d}": i % 7 for i in range(3000)}}).encode()
    template = Template((b'{"a": ', b', "rest": ' + big + b', "stats": ', b"}"))
    for values in ((b"1.5", b"{}"), (b"2", json.dumps({"x": "y" * 70000}).encode())):
        body = template.render(values)
        assert json.loads(body)["a"] in (1.5, 2)
        gz = template.gzipped(values)
        assert gzip.decompress(gz) == body
        assert zlib.decompress(gz, 31) == body  # as aiohttp and browsers read it
        assert len(gz) < len(body)
