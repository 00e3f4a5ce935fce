"""Dashboard benchmark (not a test): the page in chromium against 1,000 nodes and
10,000 tasks.

    make bench-dashboard      # or: python -m bench.dashboard --nodes 1000 --tasks 10000

On one fresh local control plane the objects are created straight in the API server
(as bench.api does), then the API process starts. Measured with Playwright:
  * first render: navigation start to the overview's tiles and charts drawn, and to the
    nodes table holding every node (a second page load, caches cold);
  * bytes transferred (encoded, as on the wire) to open the overview, then the nodes
    and tasks views, WebSocket frames included;
  * main-thread time per WebSocket update, from a Chromium trace (Playwright's
    ``start_tracing``) while tasks are submitted at ``--rate`` per second: the
    renderer main thread's busy time divided by the messages received, plus the
    longest single task.
Goals: first render < 1 s, < 300 KB, < 16 ms per update.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import time
from typing import Any

import aiohttp

from bench.api import KEY, REPO, populate, start_api, wait_ready
from devtools.localcluster.controlplane import ControlPlane
from devtools.localcluster.ports import free_port
from web4ai.k8s import crds as crds_mod
from web4ai.k8s.client import api_client


def main_thread_busy(trace: Any) -> tuple[float, float]:
    """(total ms, longest ms) of top-level tasks on the renderer main thread."""
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    mains = {
        (e["pid"], e["tid"])
        for e in events
        if e.get("ph") == "M"
        and e.get("name") == "thread_name"
        and e.get("args", {}).get("name") == "CrRendererMain"
    }
    total = longest = 0.0
    for e in events:
        if (
            e.get("ph") == "X"
            and (e.get("pid"), e.get("tid")) in mains
            and e.get("name") in ("RunTask", "ThreadControllerImpl::RunTask")
        ):
            ms = e.get("dur", 0) / 1000
            total += ms
            longest = max(longest, ms)
    return total, longest


async def measure(origin: str, base: str, args: argparse.Namespace) -> None:
    from playwright.async_api import async_playwright

    path = os.environ.get("WEB4AI_CHROMIUM") or shutil.which("chromium")
    if path is None:
        sys.exit("chromium is not installed (hack/install-browser.sh)")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=path, chromium_sandbox=False)
        context = await browser.new_context(viewport={"width": 1280, "height": 800})
        await context.add_init_script(f"sessionStorage.setItem('web4ai.apiKey', {KEY!r})")
        page = await context.new_page()
        cdp = await context.new_cdp_session(page)
        await cdp.send("Network.enable")
        wire = {"http": 0, "ws": 0}
        cdp.on(
            "Network.loadingFinished",
            lambda e: wire.__setitem__("http", wire["http"] + int(e["encodedDataLength"])),
        )
        cdp.on(
            "Network.webSocketFrameReceived",
            lambda e: wire.__setitem__("ws", wire["ws"] + len(e["response"]["payloadData"])),
        )
        t0 = time.perf_counter()
        await page.goto(origin + "/")
        await page.wait_for_selector("#tiles .tile")
        await page.wait_for_selector("#charts svg")
        overview = time.perf_counter() - t0
        print(f"first render (overview tiles and charts): {overview * 1000:.0f} ms", flush=True)
        print(f"  transferred so far: {wire['http'] / 1024:.1f} KB http", flush=True)
        if args.screenshots:
            await asyncio.sleep(1)
            await page.screenshot(path=f"{args.screenshots}/bench-overview.png")
        t0 = time.perf_counter()
        await page.click('#tabs a[data-view="nodes"]')
        await page.locator(f"#node-count:has-text('{args.nodes} of {args.nodes} nodes')").wait_for()
        await page.locator("#nodes-table tbody tr").nth(min(args.nodes, 100) - 1).wait_for()
        nodes_ms = (time.perf_counter() - t0) * 1000
        print(f"nodes view ({args.nodes} nodes, first 100 rows): {nodes_ms:.0f} ms", flush=True)
        if args.screenshots:
            await page.screenshot(path=f"{args.screenshots}/bench-nodes.png")
        await page.click('#tabs a[data-view="tasks"]')
        await page.wait_for_selector("#tasks-table tbody tr[data-task]")
        await asyncio.sleep(1.5)
        total_kb = (wire["http"] + wire["ws"]) / 1024
        print(
            f"transferred (overview, nodes, tasks): {total_kb:.1f} KB "
            f"(http {wire['http'] / 1024:.1f} KB, websocket {wire['ws'] / 1024:.1f} KB)",
            flush=True,
        )

        # main-thread time per WebSocket update, on the nodes view (the heaviest)
        await page.click('#tabs a[data-view="nodes"]')
        await asyncio.sleep(1.5)
        frames = [0]
        cdp.on("Network.webSocketFrameReceived", lambda e: frames.__setitem__(0, frames[0] + 1))
        await browser.start_tracing(page=page, categories=["toplevel", "devtools.timeline"])
        headers = {"Authorization": f"Bearer {KEY}"}
        async with aiohttp.ClientSession(headers=headers) as s:
            end = time.perf_counter() + args.seconds
            i = 0
            while time.perf_counter() < end:
                async with s.post(
                    f"{base}/tasks", json={"task_type": "bench", "input_data": {"i": i}}
                ) as r:
                    await r.read()
                i += 1
                await asyncio.sleep(1 / args.rate)
        await asyncio.sleep(1.5)
        raw = await browser.stop_tracing()
        trace = json.loads(raw)
        total, longest = main_thread_busy(trace)
        count = max(frames[0], 1)
        print(
            f"websocket updates received: {frames[0]} in {args.seconds:.0f} s "
            f"({i} tasks submitted); main-thread busy {total:.0f} ms: "
            f"{total / count:.2f} ms per update, longest task {longest:.1f} ms",
            flush=True,
        )
        await browser.close()


async def main_async(args: argparse.Namespace) -> None:
    with ControlPlane() as plane:
        api = await api_client(str(plane.kubeconfig))
        await crds_mod.install(api, REPO / "crds")
        t0 = time.perf_counter()
        await populate(api, args.nodes, args.tasks)
        print(
            f"created {args.nodes} nodes and {args.tasks} tasks in {time.perf_counter() - t0:.1f}s",
            flush=True,
        )
        port = free_port()
        proc = start_api(str(plane.kubeconfig), port, free_port())
        base = f"http://127.0.0.1:{port}/api/v1"
        try:
            await wait_ready(base)
            await measure(f"http://127.0.0.1:{port}", base, args)
        finally:
            proc.terminate()
            proc.wait()
            await api.close()


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--nodes", type=int, default=1000)
    p.add_argument("--tasks", type=int, default=10000)
    p.add_argument("--rate", type=float, default=20.0, help="task submissions per second")
    p.add_argument("--seconds", type=float, default=10.0, help="how long updates flow")
    p.add_argument("--screenshots", help="a folder for screenshots of the overview and nodes")
    asyncio.run(main_async(p.parse_args()))


if __name__ == "__main__":
    main()
