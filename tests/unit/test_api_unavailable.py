"""An outage of the API server behind the API is a 503 to retry, not a 500."""

from __future__ import annotations

import aiohttp
from kubernetes_asyncio.client.exceptions import ApiException

from web4ai.api.errors import unavailable


def test_outages_are_recognised() -> None:
    assert unavailable(ApiException(status=503))
    assert unavailable(ApiException(status=429))
    assert unavailable(aiohttp.ClientConnectorError(None, OSError(111, "refused")))  # type: ignore[arg-type]
    assert unavailable(TimeoutError())
    assert not unavailable(ApiException(status=422))
    assert not unavailable(ValueError("bug"))
