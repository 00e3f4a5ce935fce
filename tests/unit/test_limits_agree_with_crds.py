"""The API's input bounds (the models of web4ai/core/schemas/, from web4ai/core/limits.py) agree
with the CRD schemas: a request the API accepts makes an object the API server stores."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from web4ai.core import limits as lim
from web4ai.core.schemas import openapi, requests

CRDS = Path(__file__).resolve().parents[2] / "crds"
BOUNDS = ("maxLength", "maxItems", "minimum", "maximum")


def crd_spec(name: str) -> dict[str, Any]:
    doc = yaml.safe_load((CRDS / name).read_text())
    schema = doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return dict(schema["properties"]["spec"])


def at(schema: dict[str, Any], path: str) -> dict[str, Any]:
    for part in path.split("."):
        schema = schema["items"] if part == "[]" else schema["properties"][part]
    return schema


TASK = crd_spec("web4aitasks.yaml")
NODE = crd_spec("web4ainodes.yaml")
API_TASK = openapi.body_schema(requests.TaskSubmit)
API_NODE = openapi.body_schema(requests.Registration)

PAIRS = [
    (API_TASK, "task_id", TASK, "taskId"),
    (API_TASK, "task_type", TASK, "taskType"),
    (API_TASK, "priority", TASK, "priority"),
    (API_TASK, "timeout", TASK, "timeout"),
    (API_TASK, "max_retries", TASK, "maxRetries"),
    (API_TASK, "callback_url", TASK, "callbackUrl"),
    (API_TASK, "requirements.capabilities", TASK, "requirements.capabilities"),
    (API_TASK, "requirements.capabilities.[]", TASK, "requirements.capabilities.[]"),
    (API_TASK, "requirements.min_cpu", TASK, "requirements.minCpu"),
    (API_TASK, "requirements.preferred_nodes", TASK, "requirements.preferredNodes"),
    (API_TASK, "requirements.preferred_nodes.[]", TASK, "requirements.preferredNodes.[]"),
    (API_TASK, "requirements.exclude_nodes", TASK, "requirements.excludeNodes"),
    (API_TASK, "requirements.exclude_nodes.[]", TASK, "requirements.excludeNodes.[]"),
    (API_NODE, "host", NODE, "host"),
    (API_NODE, "port", NODE, "port"),
    (API_NODE, "node_type", NODE, "nodeType"),
    (API_NODE, "capabilities", NODE, "capabilities"),
    (API_NODE, "capabilities.[]", NODE, "capabilities.[]"),
    (API_NODE, "agents_count", NODE, "agentsCount"),
    (API_NODE, "max_concurrent_tasks", NODE, "maxConcurrentTasks"),
    (API_NODE, "version", NODE, "version"),
    (API_NODE, "location", NODE, "location"),
    (API_NODE, "boot_id", NODE, "bootId"),
    (API_NODE, "agents", NODE, "agents"),
    (API_NODE, "agents.[].agent_id", NODE, "agents.[].agentId"),
    (API_NODE, "agents.[].agent_type", NODE, "agents.[].agentType"),
    (API_NODE, "agents.[].capabilities", NODE, "agents.[].capabilities"),
    (API_NODE, "agents.[].capabilities.[]", NODE, "agents.[].capabilities.[]"),
    (API_NODE, "agents.[].specialized_models", NODE, "agents.[].specializedModels"),
    (API_NODE, "agents.[].specialized_models.[]", NODE, "agents.[].specializedModels.[]"),
]


@pytest.mark.parametrize(("api", "api_path", "crd", "crd_path"), PAIRS, ids=[p[1] for p in PAIRS])
def test_every_bound_agrees(
    api: dict[str, Any], api_path: str, crd: dict[str, Any], crd_path: str
) -> None:
    ours, theirs = at(api, api_path), at(crd, crd_path)
    for key in BOUNDS:
        if key in theirs:  # the API server enforces it: the API must, with the same number
            assert ours.get(key) == theirs[key], (key, ours, theirs)
    for key in ("maxLength", "maxItems"):  # and every API bound is written into the CRD
        if key in ours:
            assert theirs.get(key) == ours[key], (key, ours, theirs)
    if ours.get("minLength", 0) > 0:
        assert theirs.get("minLength") == ours["minLength"], (ours, theirs)


def test_the_largest_acceptable_task_fits_in_one_etcd_object() -> None:
    spec = (
        lim.INPUT_DATA_MAX_BYTES
        + lim.METADATA_MAX_BYTES
        + lim.CAPABILITIES_MAX * (lim.NAME_MAX + 3)
        + 2 * lim.NODE_LIST_MAX * (lim.ID_MAX + 3)
        + lim.CALLBACK_URL_MAX
        + 4096
    )
    status = (
        lim.RESULT_MAX_BYTES
        + lim.ERROR_MESSAGE_MAX * 2  # errorMessage, and escaping
        + lim.ATTEMPTS_MAX * (lim.ATTEMPT_ERROR_MAX + 256)
        + 3 * (lim.EXPLANATION_MAX + 512)  # Scheduled, Started, CallbackDelivered
        + lim.METADATA_MAX_BYTES  # performance metrics
        + 4096
    )
    assert spec + status < lim.OBJECT_MAX_BYTES


def test_the_attempts_bound_is_the_crds() -> None:
    doc = yaml.safe_load((CRDS / "web4aitasks.yaml").read_text())
    status = doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    assert status["properties"]["attempts"]["maxItems"] == lim.ATTEMPTS_MAX
