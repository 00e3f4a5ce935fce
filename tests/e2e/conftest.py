"""The whole stack with real node processes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import requests
from aiohttp import web

from devtools.localcluster.controlplane import die_with_parent
from tests.conftest import ADMIN_KEY, Stack
from tests.integration.helpers import REPO


class NodeProcess:
    def __init__(self, stack: Stack, node_id: str, log_dir: Path, *extra: str) -> None:
        self.node_id = node_id
        self.log_path = log_dir / f"{node_id}.log"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "web4ai",
                "node",
                "--node-id",
                node_id,
                "--orchestrator-url",
                stack.api.base,
                "--heartbeat-interval",
                "1",
                "--poll-wait",
                "5",
                *extra,
            ],
            stdout=self.log_path.open("ab"),
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(REPO), "WEB4AI_API_KEY": ADMIN_KEY},
            preexec_fn=die_with_parent,
        )

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
async def inference_server() -> AsyncIterator[str]:
    """A small OpenAI-compatible endpoint: the nodes' ai_inference talks real HTTP to it."""

    async def chat(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        prompt = body["messages"][-1]["content"]
        content = f"{len(prompt.split())} words: {prompt[::-1]}"
        usage = {"prompt_tokens": len(prompt.split()), "completion_tokens": 3}
        if not body.get("stream"):
            return web.json_response(
                {
                    "model": body["model"],
                    "choices": [{"message": {"role": "assistant", "content": content}}],
                    "usage": usage,
                }
            )
        # server-sent events, a character a token; "slowly" in the prompt: 20 tokens/s
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for char in content:
            chunk = {"model": body["model"], "choices": [{"delta": {"content": char}}]}
            await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())
            if "slowly" in prompt:
                await asyncio.sleep(0.05)
        last = {"model": body["model"], "choices": [{"delta": {}}], "usage": usage}
        await resp.write(f"data: {json.dumps(last)}\n\ndata: [DONE]\n\n".encode())
        await resp.write_eof()
        return resp

    async def models(request: web.Request) -> web.Response:
        return web.json_response({"data": [{"id": "tiny"}, {"id": "tiny-chat"}]})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/v1/models", models)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}/v1"
    await runner.cleanup()


@pytest.fixture(scope="module")
def nodes(
    stack: Stack,
    inference_server: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[list[NodeProcess]]:
    logs = tmp_path_factory.mktemp("nodes")
    # Every node here reports this one machine's cpu, which a busy test run can push
    # over the default 80 % threshold; the thresholds are tested elsewhere.
    requests.put(
        f"{stack.api.base}/config",
        headers=stack.headers,
        timeout=30,
        json={"performance": {"cpu_threshold": 100, "memory_threshold": 100}},
    )
    procs = [
        NodeProcess(
            stack,
            f"e2e-node-{i}",
            logs,
            "--agents",
            "4",
            "--inference-url",
            inference_server,
            "--inference-model",
            "tiny",
        )
        for i in range(3)
    ]
    try:
        yield procs
    finally:
        for p in procs:
            p.stop()
        for p in procs:
            print(p.log_path.read_text()[-2000:])
