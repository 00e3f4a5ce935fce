"""Take docs/dashboard-overview.png: the overview with 20 reference nodes and 200
tasks flowing, on the whole product started as `make run` does (free ports).

    PYTHONPATH=. python hack/dashboard-screenshot.py   # needs chromium and playwright
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from devtools.localcluster.ports import free_port

REPO = Path(__file__).resolve().parents[1]
KEY = "w4a_screenshot_key"
NODES, TASKS = 20, 200


def wait_nodes(base: str, headers: dict[str, str]) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            r = requests.get(f"{base}/nodes", headers=headers, timeout=5)
            if r.ok and r.json()["active_nodes"] >= NODES:
                return
        except requests.RequestException:
            pass
        time.sleep(1)
    sys.exit("the demo nodes did not come up")


def submit(base: str, headers: dict[str, str]) -> None:
    for i in range(TASKS):
        requests.post(
            f"{base}/tasks",
            headers=headers,
            json={"task_type": "test_task", "input_data": {"i": i, "sleep_seconds": 2 + i % 5}},
            timeout=30,
        )
        time.sleep(0.15)  # a steady flow for the charts


async def shoot(origin: str, base: str, headers: dict[str, str]) -> None:
    from playwright.async_api import async_playwright

    await asyncio.to_thread(submit, base, headers)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=shutil.which("chromium"), chromium_sandbox=False
        )
        context = await browser.new_context(viewport={"width": 1280, "height": 800})
        await context.add_init_script(f"sessionStorage.setItem('web4ai.apiKey', {KEY!r})")
        page = await context.new_page()
        await page.goto(origin + "/")
        await page.wait_for_selector("#charts svg path")
        await asyncio.sleep(2)
        out = REPO / "docs" / "dashboard-overview.png"
        out.parent.mkdir(exist_ok=True)
        await page.screenshot(path=str(out))
        print(f"wrote {out}")
        await browser.close()


def main() -> None:
    port, ws_port = free_port(), free_port()
    logs = Path(tempfile.mkdtemp(prefix="web4ai-shot-"))
    env = {**os.environ, "PYTHONPATH": str(REPO), "WEB4AI_API_KEY": KEY}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devtools.localcluster.stack",
            "--crds",
            str(REPO / "crds"),
            "--nodes",
            str(NODES),
            "--port",
            str(port),
            "--ws-port",
            str(ws_port),
            "--logs",
            str(logs),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    base, headers = f"http://127.0.0.1:{port}/api/v1", {"Authorization": f"Bearer {KEY}"}
    try:
        wait_nodes(base, headers)
        asyncio.run(shoot(f"http://127.0.0.1:{port}", base, headers))
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    main()
