"""Fixtures of the middle tier: the real API app on an in-memory fake (tests/unit/apiapp.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from tests.unit.apiapp import fake_context
from web4ai.api.app import BACKGROUND, create_app
from web4ai.api.context import ApiContext


@pytest.fixture
async def ctx() -> ApiContext:
    return await fake_context()


@pytest.fixture
async def http(ctx: ApiContext) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    app = create_app(ctx)
    for job in BACKGROUND:  # no informers: the fake writer feeds the cache
        app.cleanup_ctx.remove(job)
    async with TestClient(TestServer(app)) as client:
        yield client
