"""The access log (web4ai.api.server.AccessLog): one line per request, except that the
successes of the routes every node calls all the time are DEBUG lines."""

from __future__ import annotations

import logging

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from web4ai.api.server import AccessLog


async def answer(request: web.Request) -> web.Response:
    return web.Response(status=int(request.query.get("status", "200")))


async def lines(caplog: pytest.LogCaptureFixture, level: int, *paths: str) -> list[str]:
    app = web.Application()
    app.router.add_post("/nodes/{node_id}/heartbeat", answer, name="heartbeat")
    app.router.add_get("/nodes/{node_id}/tasks", answer, name="node_tasks")
    app.router.add_post("/tasks", answer, name="tasks")
    caplog.set_level(level, logger="aiohttp.access")
    caplog.clear()
    server = TestServer(app)
    await server.start_server(access_log_class=AccessLog)
    async with TestClient(server) as client:
        for path in paths:
            method, _, url = path.partition(" ")
            await client.request(method, url)
    return [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]


async def test_a_successful_heartbeat_or_poll_is_no_info_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    got = await lines(
        caplog,
        logging.INFO,
        "POST /nodes/n1/heartbeat",
        "GET /nodes/n1/tasks?wait=1",
        "POST /nodes/n1/heartbeat?status=429",
        "POST /tasks",
    )
    assert [line.split()[1:4] for line in got] == [
        ["POST", "/nodes/n1/heartbeat", "429"],
        ["POST", "/tasks", "200"],
    ]


async def test_at_debug_every_request_is_a_line(caplog: pytest.LogCaptureFixture) -> None:
    got = await lines(caplog, logging.DEBUG, "POST /nodes/n1/heartbeat", "POST /tasks")
    assert [line.split()[1:4] for line in got] == [
        ["POST", "/nodes/n1/heartbeat", "200"],
        ["POST", "/tasks", "200"],
    ]
