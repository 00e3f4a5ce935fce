"""Chaos run: the product keeps every task through process kills and an API server restart.

    make chaos          # or: python -m bench.chaos --tasks 3000

On a fresh local control plane: 2 operator replicas, 2 API replicas and 5 reference
nodes (each process supervised like a Deployment's pod: restarted with backoff after it
dies). ``--tasks`` ``test_task``s with a callback URL are submitted through both API
replicas while the harness SIGKILLs the leading operator twice, one API replica once and
two nodes, and restarts kube-apiserver once (etcd kept). A watch on the tasks records
every version. At the end it checks:

- every task ends ``completed``, or ``failed`` for a documented reason (its error says
  why: timeout, deadline, retries exhausted...); ``lost`` counts the others;
- no task is ever bound to two nodes at once (``double_bound``: a version with two open
  attempts, or a change of node between consecutive versions without being unbound);
- every callback is delivered at least once (counted by the harness's own receiver).

Prints ``lost=0 double_bound=0`` and the totals; exits non-zero if a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from kubernetes_asyncio import client, watch

from devtools.localcluster.controlplane import ControlPlane, die_with_parent
from devtools.localcluster.ports import free_port
from devtools.localcluster.supervise import Component, Supervisor
from web4ai.core.ids import IdKind, identity
from web4ai.core.resources import GROUP, TASKS, VERSION
from web4ai.k8s import crds as crds_mod
from web4ai.k8s.client import api_client

REPO = Path(__file__).resolve().parents[1]
KEY = "chaos-admin-key"
NS = "chaos"
TERMINAL = ("completed", "failed", "cancelled")


def log(msg: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def spawner(args: list[str], env: dict[str, str], out: Path) -> Any:
    import subprocess

    def spawn() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "web4ai", *args],
            stdout=out.open("ab"),
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=die_with_parent,
        )

    return spawn


class History:
    """Every version of every task the watch delivered."""

    def __init__(self) -> None:
        self.versions: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.double: set[str] = set()
        self.relists = 0

    def record(self, body: dict[str, Any]) -> None:
        name = body["metadata"]["name"]
        status = body.get("status") or {}
        attempts = status.get("attempts") or []
        open_attempts = [a for a in attempts if "finishedAt" not in a]
        phase = status.get("phase") or status.get("status")
        bound = phase in ("assigned", "running")
        node = status.get("nodeId") if bound else None
        seen = self.versions[name]
        if len(open_attempts) > 1:
            self.double.add(name)
        if seen and node and seen[-1]["node"] and seen[-1]["node"] != node:
            self.double.add(name)  # moved from one node to another without being unbound
        seen.append({"rv": body["metadata"]["resourceVersion"], "node": node, "phase": phase})

    async def follow(self, api: client.ApiClient, stop: asyncio.Event) -> None:
        co = client.CustomObjectsApi(api)
        rv: str | None = None
        while not stop.is_set():
            try:
                if rv is None:
                    listed = await co.list_namespaced_custom_object(
                        GROUP, VERSION, NS, TASKS.plural
                    )
                    for item in listed["items"]:
                        self.record(item)
                    rv = listed["metadata"]["resourceVersion"]
                    self.relists += 1
                w = watch.Watch()
                async for event in w.stream(
                    co.list_namespaced_custom_object,
                    GROUP,
                    VERSION,
                    NS,
                    TASKS.plural,
                    resource_version=rv,
                    allow_watch_bookmarks=True,
                    timeout_seconds=60,
                ):
                    obj = event["object"]
                    if event["type"] == "ERROR":
                        rv = None
                        break
                    rv = obj["metadata"]["resourceVersion"]
                    if event["type"] in ("ADDED", "MODIFIED"):
                        self.record(obj)
            except asyncio.CancelledError:
                raise
            except Exception:
                rv = None  # the API server restarts: list again (versions are kept)
                await asyncio.sleep(0.5)


async def leader_pid(api: client.ApiClient) -> int | None:
    try:
        lease = await client.CoordinationV1Api(api).read_namespaced_lease("web4ai-operator", NS)
    except Exception:
        return None
    holder = lease.spec.holder_identity or ""
    try:
        return int(holder.rsplit("-", 2)[-2])
    except (IndexError, ValueError):
        return None


async def run(tasks: int, concurrency: int, logs: Path) -> int:
    received: Counter[str] = Counter()

    async def hook(request: web.Request) -> web.Response:
        body = await request.json()
        received[str(body.get("task_id"))] += 1
        return web.json_response({"ok": True})

    hook_app = web.Application()
    hook_app.router.add_post("/hook", hook)
    runner = web.AppRunner(hook_app, access_log=None)
    await runner.setup()
    hook_port = free_port()
    await web.TCPSite(runner, "127.0.0.1", hook_port).start()
    hook_url = f"http://127.0.0.1:{hook_port}/hook"

    with ControlPlane() as plane:
        api = await api_client(str(plane.kubeconfig))
        await crds_mod.install(api, REPO / "crds")
        await client.CoreV1Api(api).create_namespace({"metadata": {"name": NS}})
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "WEB4AI_API_KEY": KEY,
            "KUBECONFIG": str(plane.kubeconfig),
        }
        sup = Supervisor(time.monotonic, lambda m: log(m))
        ns = ["--namespace", NS]
        ports = [(free_port(), free_port()) for _ in range(2)]
        bases = [f"http://127.0.0.1:{p}/api/v1" for p, _ in ports]
        operators = [
            sup.add(
                Component(
                    f"operator-{i}",
                    spawner(
                        ["operator", *ns, "--lease-duration", "6", "--retry-period", "1"],
                        env,
                        logs / f"operator-{i}.log",
                    ),
                    restart=True,
                )
            )
            for i in range(2)
        ]
        apis = [
            sup.add(
                Component(
                    f"api-{i}",
                    spawner(
                        ["api", *ns, "--port", str(p), "--ws-port", str(w)],
                        env,
                        logs / f"api-{i}.log",
                    ),
                    restart=True,
                )
            )
            for i, (p, w) in enumerate(ports)
        ]
        headers = {"Authorization": f"Bearer {KEY}"}
        session = aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=30))
        while True:
            try:
                async with session.get(f"{bases[0]}/health") as r:
                    if r.status == 200:
                        break
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.5)
        async with session.put(
            f"{bases[0]}/config",
            json={
                "orchestrator": {"heartbeat_interval": 2},
                "performance": {"cpu_threshold": 100, "memory_threshold": 100},
                "security": {
                    "max_requests_per_minute": 10_000_000,
                    "allow_private_callbacks": True,
                },
            },
        ) as r:
            assert r.status == 200, await r.text()
        nodes = [
            sup.add(
                Component(
                    f"node-{i}",
                    spawner(
                        [
                            "node",
                            "--node-id",
                            f"chaos-node-{i}",
                            "--orchestrator-url",
                            bases[i % 2],
                            "--agents",
                            "4",
                            "--poll-wait",
                            "5",
                        ],
                        env,
                        logs / f"node-{i}.log",
                    ),
                    restart=True,
                )
            )
            for i in range(5)
        ]
        history = History()
        stop = asyncio.Event()
        follower = asyncio.create_task(history.follow(api, stop))

        async def supervise() -> None:
            while True:
                sup.check()
                await asyncio.sleep(0.3)

        supervisor = asyncio.create_task(supervise())
        kills: list[str] = []

        def kill(component: Component, what: str) -> None:
            if component.proc is not None and component.proc.poll() is None:
                component.proc.send_signal(signal.SIGKILL)
                kills.append(what)
                log(f"SIGKILL {what} (pid {component.proc.pid})")

        async def kill_leader() -> None:
            pid = await leader_pid(api)
            for op in operators:
                if op.proc is not None and op.proc.pid == pid:
                    kill(op, f"leader {op.name}")
                    return
            log(f"leader pid {pid} not found among operators")

        async def restart_apiserver() -> None:
            log("restarting kube-apiserver (etcd kept)")
            await asyncio.to_thread(plane.restart_apiserver)
            kills.append("kube-apiserver restart")
            log("kube-apiserver is back")

        async def chaos() -> None:
            plan: list[tuple[float, Any]] = [
                (8, kill_leader),
                (16, lambda: kill(apis[1], "api-1")),
                (24, lambda: kill(nodes[0], "node-0")),
                (32, restart_apiserver),
                (48, kill_leader),
                (56, lambda: kill(nodes[3], "node-3")),
            ]
            t0 = time.monotonic()
            for at, action in plan:
                await asyncio.sleep(max(0.0, t0 + at - time.monotonic()))
                result = action()
                if asyncio.iscoroutine(result):
                    await result

        started = time.monotonic()
        chaos_task = asyncio.create_task(chaos())
        ids = [f"chaos-{i:05d}" for i in range(tasks)]
        queue = list(enumerate(ids))
        submit_errors: Counter[str] = Counter()

        async def submitter() -> None:
            while queue:
                i, task_id = queue.pop()
                body = {
                    "task_id": task_id,
                    "task_type": "test_task",
                    "input_data": {"n": i, "sleep_seconds": 0.2},
                    "timeout": 60,
                    "max_retries": 5,
                    "callback_url": hook_url,
                }
                for attempt in range(600):
                    base = bases[(i + attempt) % 2]
                    try:
                        async with session.post(f"{base}/tasks", json=body) as r:
                            if r.status == 200:
                                break
                            answer = await r.json(content_type=None)
                            code = (answer.get("details") or {}).get("code")
                            if r.status == 409 and code == "TASK_EXISTS":
                                break  # an earlier try got through before its answer was lost
                            submit_errors[f"{r.status} {code}"] += 1
                    except (aiohttp.ClientError, TimeoutError) as exc:
                        submit_errors[type(exc).__name__] += 1
                    await asyncio.sleep(0.5)

        await asyncio.gather(*(submitter() for _ in range(concurrency)))
        took = time.monotonic() - started
        log(f"submitted {tasks} tasks in {took:.0f}s; retried submits {dict(submit_errors)}")
        await chaos_task
        co = client.CustomObjectsApi(api)

        async def snapshot() -> dict[str, dict[str, Any]]:
            while True:
                try:
                    listed = await co.list_namespaced_custom_object(
                        GROUP, VERSION, NS, TASKS.plural
                    )
                    return {i["spec"]["taskId"]: i for i in listed["items"]}
                except Exception:
                    await asyncio.sleep(1)

        deadline = time.monotonic() + 900
        while True:
            objs = await snapshot()
            settled = [
                o
                for o in objs.values()
                if (o.get("status") or {}).get("status") in TERMINAL
                and "callbackDelivered" in (o.get("status") or {})
            ]
            if len(settled) >= tasks or time.monotonic() > deadline:
                break
            log(f"{len(settled)}/{tasks} finished with their callback settled")
            await asyncio.sleep(5)
        elapsed = time.monotonic() - started
        stop.set()
        for t in (follower, supervisor):
            t.cancel()
        await asyncio.gather(follower, supervisor, return_exceptions=True)
        objs = await snapshot()
        outcome: Counter[str] = Counter()
        lost: list[str] = []
        undelivered: list[str] = []
        for task_id in ids:
            o = objs.get(task_id)
            status = (o or {}).get("status") or {}
            state = status.get("status")
            outcome[str(state)] += 1
            documented = state == "completed" or (state == "failed" and status.get("errorMessage"))
            if o is None or not documented:
                lost.append(task_id)
            if received[task_id] < 1:
                undelivered.append(task_id)
        retries = sum(int((o.get("status") or {}).get("retryCount") or 0) for o in objs.values())
        await session.close()
        await api.close()
        for c in sup.components:
            if c.proc is not None and c.proc.poll() is None:
                c.proc.terminate()
        for c in sup.components:
            if c.proc is not None:
                try:
                    c.proc.wait(timeout=30)
                except Exception:
                    c.proc.kill()
    await runner.cleanup()
    double = sorted(history.double & {identity(IdKind.TASK, t).name for t in ids})
    print(
        f"lost={len(lost)} double_bound={len(double)} "
        f"tasks={tasks} completed={outcome['completed']} failed={outcome['failed']} "
        f"callbacks_delivered={tasks - len(undelivered)}/{tasks} "
        f"callback_posts={sum(received.values())} retries={retries} "
        f"watch_versions={sum(len(v) for v in history.versions.values())} "
        f"watch_relists={history.relists} restarts={sup.restarts} "
        f"chaos=[{', '.join(kills)}] seconds={elapsed:.0f}",
        flush=True,
    )
    if lost:
        print("lost (first 10):", lost[:10])
    if double:
        print("double bound (first 10):", double[:10])
    if undelivered:
        print("callbacks never received (first 10):", undelivered[:10])
    return 0 if not lost and not double and not undelivered else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="make chaos", description=__doc__)
    p.add_argument("--tasks", type=int, default=3000)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument(
        "--logs", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "web4ai-chaos"
    )
    args = p.parse_args(argv)
    args.logs.mkdir(parents=True, exist_ok=True)
    return asyncio.run(run(args.tasks, args.concurrency, args.logs))


if __name__ == "__main__":
    sys.exit(main())
