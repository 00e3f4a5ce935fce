"""What the reference node reports of its agents' models (web4ai.node.reporting)."""

from __future__ import annotations

from web4ai.node.executors import ExecutionContext
from web4ai.node.reporting import Models


async def test_simulated_models_are_served_and_loaded_by_every_agent() -> None:
    models = Models(ExecutionContext(node_id="n"), ["tiny", "llama"])
    assert models.of_agent() == {}  # not asked yet
    await models.refresh()
    assert models.of_agent() == {
        "specialized_models": ["llama", "tiny"],
        "loaded_models": ["llama", "tiny"],
    }


async def test_without_models_an_agent_reports_none() -> None:
    models = Models(ExecutionContext(node_id="n"), [])
    await models.refresh()
    assert models.of_agent() == {}
