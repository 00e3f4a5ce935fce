"""Integration tests use the shared fixtures of tests/conftest.py (real control plane),
and ``http``: the REST API with the admin key."""

from __future__ import annotations

import pytest

from tests.conftest import Stack
from tests.integration.apiclient import Http


@pytest.fixture
def http(stack: Stack) -> Http:
    return Http(stack.api.base, stack.headers)
