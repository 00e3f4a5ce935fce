"""Real reference nodes: their agents report the inference endpoint's models, a task
naming a model runs where it is served, and the executors report progress (tokens
streamed by ai_inference)."""

from __future__ import annotations

from tests.conftest import ADMIN_KEY, Stack
from tests.e2e.conftest import NodeProcess
from tests.integration.helpers import eventually
from web4ai.client import AsyncClient, Web4AIError


async def test_nodes_report_their_models_and_tasks_route_by_model(
    stack: Stack, nodes: list[NodeProcess]
) -> None:
    async with AsyncClient(stack.api.base, ADMIN_KEY) as client:

        async def reported() -> bool:
            try:
                node = await client.get_node(nodes[0].node_id)
            except Web4AIError as exc:  # not registered yet
                assert exc.status == 404
                return False
            return bool(node.get("loaded_models") == ["tiny", "tiny-chat"])

        await eventually(reported, within=60)
        node = await client.get_node(nodes[0].node_id)
        assert node["models"] == ["tiny", "tiny-chat"]
        assert {tuple(a["loaded_models"]) for a in node["agents"]} == {("tiny", "tiny-chat")}
        task_id = await client.submit(
            "ai_inference",
            input_data={"prompt": "one two", "model": "tiny-chat"},
            requirements={"model": "tiny-chat", "affinity_key": "conv-e2e"},
        )
        task = await client.wait(task_id, timeout=60)
        assert task["status"] == "completed", task
        assert (
            task["result"]["text"] == "2 words: owt eno" and task["result"]["model"] == "tiny-chat"
        )
        scheduled = next(c for c in task["conditions"] if c["type"] == "Scheduled")
        assert "affinity key conv-e2e" in scheduled["message"]


async def test_streamed_tokens_are_the_tasks_progress(
    stack: Stack, nodes: list[NodeProcess]
) -> None:
    async with AsyncClient(stack.api.base, ADMIN_KEY) as client:
        prompt = "please answer slowly " + "word " * 20
        task_id = await client.submit(
            "ai_inference", input_data={"prompt": prompt, "max_tokens": 200}
        )
        task = await client.wait(task_id, timeout=120)
    assert task["status"] == "completed"
    assert task["result"]["text"].startswith("23 words: ")
    # the node reported the tokens streamed so far (the last report stays on the task)
    progress = task["progress"]
    assert progress["message"].endswith(" tokens") and 0 < progress["percent"] < 100
