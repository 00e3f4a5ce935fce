"""Property-based fuzzing of every operation in the OpenAPI document (schemathesis):
valid and invalid inputs alike must never produce a 5xx."""

from __future__ import annotations

from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.conftest import Stack

EXAMPLES = 25  # per operation and mode: bounded so that `make test` stays quick


def operations(stack: Stack) -> list[Any]:
    root = stack.api.base.removesuffix("/api/v1")
    schema = schemathesis.openapi.from_url(f"{root}/api/v1/openapi.json", headers=stack.headers)
    return [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]


def safe(case: Any) -> bool:
    """Keep the fuzzer from locking itself out (rate limit, auth off, pause) and from
    waiting on long polls."""
    if case.operation.label in ("POST /api/v1/control/stop", "GET /api/v1/ws"):
        return False
    query = case.query if isinstance(case.query, dict) else {}
    wait = query.get("wait")
    if isinstance(wait, int | float) and not isinstance(wait, bool) and wait > 10:
        return False  # a valid long poll holds the request for up to 60 s: past the call timeout
    body = case.body if isinstance(case.body, dict) else {}
    security = body.get("security")
    if not isinstance(security, dict):
        return True
    return "max_requests_per_minute" not in security and "api_key_required" not in security


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_operation_answers_5xx(stack: Stack, mode: GenerationMode) -> None:
    root = stack.api.base.removesuffix("/api/v1")
    ops = operations(stack)
    assert len(ops) >= 20
    failures: list[str] = []
    calls = [0]
    session = requests.Session()

    def fuzz(op: Any) -> None:
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(st.data())
        def run(data: st.DataObject) -> None:
            case = data.draw(op.as_strategy(generation_mode=mode))
            if not safe(case):
                return
            calls[0] += 1
            response = case.call(base_url=root, headers=stack.headers, session=session, timeout=30)
            if response.status_code >= 500:
                failures.append(
                    f"{case.operation.label} -> {response.status_code}: "
                    f"{response.text[:300]} (body={case.body!r:.300})"
                )
            elif response.status_code >= 400:
                err = response.json()
                assert err["success"] is False and "code" in err["details"], response.text

        try:
            run()
        except Unsatisfiable:
            impossible.append(op.label)  # nothing invalid to send (e.g. no parameters)

    impossible: list[str] = []
    for op in ops:
        fuzz(op)
    assert not failures, "\n".join(failures[:20])
    if mode is GenerationMode.POSITIVE:
        assert not impossible, impossible
    assert calls[0] >= 5 * len(ops)  # the fuzzer really exercised the server
