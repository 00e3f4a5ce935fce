"""The node agent: register, heartbeat, long-poll, run tasks, report, drain on SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import psutil

import web4ai
from web4ai.client import AsyncClient, Web4AIError
from web4ai.node.config import DEFAULT_ORCHESTRATOR_URL, NodeConfig
from web4ai.node.executors import ExecutionContext, Executor, TaskFailed, load_executors
from web4ai.node.metrics import load_score, sample
from web4ai.node.reporting import Models, reporter

log = logging.getLogger(__name__)

MAX_BACKOFF = 30.0
# 4xx answers that say "retry shortly": a register while the node's deletion is still
# finishing (its finalizer) is one; the node must wait it out, not end
TRANSIENT = frozenset({"NODE_TERMINATING"})
DRAIN_CALL_TIMEOUT = 5.0
HELD_LIMIT = 6000  # characters of the poll's ``held`` query (the API's maximum)


def usable_executors(executors: dict[str, Executor], config: NodeConfig) -> list[str]:
    """The executors a node can run as configured: ``ai_inference`` needs an
    inference endpoint, so a node without one does not claim it."""
    return sorted(name for name in executors if name != "ai_inference" or config.inference_url)


def refused_result(node_id: str, body: dict[str, Any], exc: Web4AIError) -> dict[str, Any]:
    """The minimal failed result sent when the API refused the real one."""
    why = f"the orchestrator refused the node's {body.get('status', '')} result: {exc}"
    out: dict[str, Any] = {"node_id": node_id, "status": "failed", "error_message": why[:4000]}
    if isinstance(body.get("execution_time"), int | float):
        out["execution_time"] = body["execution_time"]
    return out


def registration_body(
    cfg: NodeConfig, executors: dict[str, Executor], boot_id: str | None = None
) -> dict[str, Any]:
    """What the node registers (and joins) with."""
    usable = usable_executors(executors, cfg)
    body: dict[str, Any] = {
        "host": cfg.host,
        "port": cfg.port,
        "node_type": cfg.node_type,
        "capabilities": cfg.capabilities or usable,
        "agents_count": cfg.agents,
        "max_concurrent_tasks": cfg.capacity,
        "version": web4ai.__version__,
        "metadata": {
            "memory_total_mb": round(psutil.virtual_memory().total / 2**20, 1),
            "executors": sorted(executors),
        },
        "agents": [
            {"agent_id": f"{cfg.node_id}-agent-{i}", "agent_type": "worker", "capabilities": usable}
            for i in range(cfg.agents)
        ],
    }
    if boot_id:
        body["boot_id"] = boot_id
    if cfg.location:
        body["location"] = cfg.location
    return body


class AuthFailed(Exception):
    """The orchestrator refused our credentials (401/403): no retry helps; the process
    exits non-zero so that its supervisor restarts it (with a new key, perhaps)."""


class LoopEnded(Exception):
    """A background loop of the agent ended; the process exits non-zero."""


@dataclass
class NodeAgent:
    config: NodeConfig
    executors: dict[str, Executor] = field(default_factory=load_executors)
    running: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    cancelled: set[str] = field(default_factory=set)
    draining: asyncio.Event = field(default_factory=asyncio.Event)
    completed: int = 0
    failed: int = 0
    latency_ms: float | None = None
    started: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        self.heartbeat_every = self.config.heartbeat_interval
        self.boot_id = uuid.uuid4().hex  # this incarnation: a restart is a new one
        self.client = AsyncClient(
            self.config.orchestrator_url or DEFAULT_ORCHESTRATOR_URL,
            self.config.api_key,
            timeout=90,
        )
        self.slots = asyncio.Semaphore(self.config.capacity)
        self.context = ExecutionContext(
            node_id=self.config.node_id,
            inference_url=self.config.inference_url,
            inference_model=self.config.inference_model,
            inference_api_key=self.config.inference_api_key,
        )
        self.models = Models(self.context, self.config.simulate_models)

    def usable_executors(self) -> list[str]:
        return usable_executors(self.executors, self.config)

    @property
    def node(self) -> str:
        return f"/nodes/{self.config.node_id}"

    # -- plumbing ------------------------------------------------------------------

    async def retrying(self, what: str, call: Any) -> Any:
        """Call until it works, backing off while the orchestrator is unreachable or
        answers an error that says to retry (``TRANSIENT``)."""
        delay = 1.0
        while True:
            try:
                return await call()
            except Web4AIError as exc:
                if exc.status in (401, 403):
                    log.error(
                        "%s: the orchestrator refused this node's credentials (%s); "
                        "check the API key (WEB4AI_API_KEY / --api-key). Exiting.",
                        what,
                        exc,
                    )
                    raise AuthFailed(str(exc)) from exc
                if exc.status < 500 and exc.status != 429 and exc.code not in TRANSIENT:
                    raise
                log.warning("%s: %s; retrying in %.0fs", what, exc, delay)
            except (OSError, TimeoutError) as exc:
                log.warning(
                    "%s: orchestrator unreachable (%s); retrying in %.0fs", what, exc, delay
                )
            except Exception as exc:
                if type(exc).__module__.startswith("aiohttp"):
                    log.warning("%s: %s; retrying in %.0fs", what, exc, delay)
                else:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF)

    # -- registration and heartbeats -------------------------------------------------

    async def register(self) -> None:
        cfg = self.config
        await self.models.refresh()
        body = registration_body(cfg, self.executors, self.boot_id)
        for agent in body["agents"]:
            agent.update(self.models.of_agent())
        answer = await self.retrying(
            "register", lambda: self.client.request("POST", f"{self.node}/register", body)
        )
        self.obey(answer)
        log.info(
            "registered %s at %s (heartbeat every %gs)",
            cfg.node_id,
            cfg.orchestrator_url,
            self.heartbeat_every,
        )

    async def heartbeat_once(self) -> None:
        s = await sample()
        body = {
            "cpu_usage": s.cpu_usage,
            "memory_usage": s.memory_usage,
            "gpu_usage": s.gpu_usage,
            "memory_total_mb": s.memory_total_mb,
            "load_score": load_score(s.cpu_usage, len(self.running), self.config.capacity),
            "tasks_running": len(self.running),
            "uptime": round(time.time() - self.started, 1),
            "agents_status": {
                "total_agents": self.config.agents,
                "active_agents": len(self.running),
                "tasks_completed": self.completed,
                "tasks_failed": self.failed,
            },
        }
        if self.latency_ms is not None:
            body["network_latency"] = self.latency_ms
        await self.models.refresh()
        if self.models.names:
            body["agents"] = [{"agent_id": a, **self.models.of_agent()} for a in self.agent_ids()]
        t0 = time.monotonic()
        try:
            reply = await self.client.request("POST", f"{self.node}/heartbeat", body)
        except Web4AIError as exc:
            if exc.code == "NODE_NOT_FOUND":
                await self.register()
                return
            raise
        self.latency_ms = round((time.monotonic() - t0) * 1000, 2)
        self.obey(reply)
        self.stop_cancelled(reply.get("cancelled_tasks") or [])

    def obey(self, answer: object) -> None:
        """Beat at the interval the orchestrator tells (register and heartbeat answers):
        never slower (the node would flap offline), faster at its own configured pace,
        but never faster than ``min_heartbeat_interval`` (the orchestrator spreads a large
        cluster's heartbeats out)."""
        if not isinstance(answer, dict):
            return
        told, floor = answer.get("heartbeat_interval"), answer.get("min_heartbeat_interval")
        if isinstance(told, int | float) and _positive(told):
            pace = min(float(told), self.config.heartbeat_interval)
            if isinstance(floor, int | float) and _positive(floor):
                pace = max(pace, float(floor))
            self.heartbeat_every = pace

    def stop_cancelled(self, task_ids: list[str]) -> None:
        """Stop the executors of tasks the orchestrator cancelled."""
        for task_id in task_ids:
            job = self.running.get(task_id)
            if job is not None and task_id not in self.cancelled:
                self.cancelled.add(task_id)
                job.cancel()

    async def heartbeats(self) -> None:
        while True:
            await self.retrying("heartbeat", self.heartbeat_once)
            await asyncio.sleep(self.heartbeat_every)

    def agent_ids(self) -> list[str]:
        return [f"{self.config.node_id}-agent-{i}" for i in range(self.config.agents)]

    # -- tasks -------------------------------------------------------------------------

    def poll_query(self) -> dict[str, Any]:
        """The poll's query: how long to wait, and the tasks this node already runs (an
        instant task stays assigned until its result, as it is never started), so that
        the API neither hands them back nor answers at once while only they are there."""
        held = held_ids(self.running)
        return (
            {"wait": self.config.poll_wait, "held": held}
            if held
            else {"wait": self.config.poll_wait}
        )

    async def poll(self) -> None:
        while not self.draining.is_set():
            await self.slots.acquire()  # wait for a free slot before asking for work
            self.slots.release()
            try:
                body = await self.retrying(
                    "poll",
                    lambda: self.client.request(
                        "GET", f"{self.node}/tasks", params=self.poll_query()
                    ),
                )
            except Web4AIError as exc:
                if exc.status != 404:
                    raise
                # unregistered (DELETE /nodes/x) or never known: register again and go on
                log.warning("poll: %s; registering again", exc)
                await self.register()
                continue
            self.stop_cancelled(body.get("cancelled_tasks") or [])
            if self.draining.is_set():
                break
            for task in body.get("tasks", []):
                if task["task_id"] not in self.running:
                    await self.slots.acquire()
                    job = asyncio.create_task(self.run(task))
                    self.running[task["task_id"]] = job

    async def report(self, task_id: str, body: dict[str, Any]) -> None:
        """Report a result; never drop it. A result the API refuses (400, 413...) is
        replaced by a minimal failed result that says why, so the task does not wait out
        its timeout. 404/409 mean the task is no longer ours (moved on, deleted)."""
        send = body
        for _ in range(2):
            try:
                await self.retrying(
                    f"report {task_id}",
                    lambda b=send: self.client.request("POST", f"/tasks/{task_id}/result", b),
                )
                return
            except Web4AIError as exc:
                if exc.status in (404, 409) or send is not body:
                    log.warning(
                        "result of %s not accepted: %s", task_id, exc, extra={"task_id": task_id}
                    )
                    return
                log.warning(
                    "result of %s refused (%s); reporting a failure instead",
                    task_id,
                    exc,
                    extra={"task_id": task_id},
                )
                send = refused_result(self.config.node_id, body, exc)

    async def execute(self, task: dict[str, Any]) -> dict[str, Any]:
        """Run the task's executor: the result to report (without ``node_id``)."""
        task_id = task["task_id"]
        started = time.monotonic()
        executor = self.executors.get(task["task_type"])
        result: dict[str, Any] = {}
        try:
            if executor is None:
                raise TaskFailed(
                    f"unknown task type {task['task_type']!r}; this node runs "
                    + ", ".join(sorted(self.executors))
                )
            progress = reporter(self.client, self.config.node_id, task_id)
            context = replace(self.context, progress=progress)
            output = await executor(task.get("input_data") or {}, context)
            result.update({"status": "completed", "result": output})
            self.completed += 1
        except TaskFailed as exc:
            result.update({"status": "failed", "error_message": str(exc)})
            self.failed += 1
        except Exception as exc:
            log.exception("executor for %s crashed", task_id, extra={"task_id": task_id})
            result.update(
                {
                    "status": "failed",
                    "error_message": f"executor crashed: {type(exc).__name__}: {exc}",
                }
            )
            self.failed += 1
        result["execution_time"] = round(time.monotonic() - started, 6)
        return result

    async def run(self, task: dict[str, Any]) -> None:
        """Run a task and report it. A task done within ``config.start_after`` seconds
        is reported without ``/start`` (the result records the start: one write to the
        cluster instead of two); a longer one is started once that time has passed."""
        task_id = task["task_id"]
        job: asyncio.Future[dict[str, Any]] | None = None
        try:
            agent = self.agent_ids()[len(self.running) % self.config.agents]
            if self.config.start_after > 0:
                job = asyncio.ensure_future(self.execute(task))
                done, _ = await asyncio.wait({job}, timeout=self.config.start_after)
                finished_early = bool(done)
            else:
                finished_early = False
            if not finished_early:
                try:
                    await self.retrying(
                        f"start {task_id}",
                        lambda: self.client.request(
                            "POST",
                            f"/tasks/{task_id}/start",
                            {"node_id": self.config.node_id, "agent_id": agent},
                        ),
                    )
                except Web4AIError as exc:
                    log.info("task %s no longer ours: %s", task_id, exc, extra={"task_id": task_id})
                    return
            if job is None:
                job = asyncio.ensure_future(self.execute(task))
            result = {"node_id": self.config.node_id, "agent_id": agent, **await job}
            await self.report(task_id, result)
            log.info(
                "task %s %s in %.3fs",
                task_id,
                result["status"],
                result["execution_time"],
                extra={"task_id": task_id},
            )
        except asyncio.CancelledError:
            if task_id not in self.cancelled:
                raise  # shutting down: drain() reports it
            log.info(
                "task %s was cancelled by the orchestrator; executor stopped",
                task_id,
                extra={"task_id": task_id},
            )
        finally:
            if job is not None and not job.done():
                job.cancel()
                with contextlib.suppress(BaseException):
                    await job
            self.cancelled.discard(task_id)
            self.running.pop(task_id, None)
            self.slots.release()

    # -- life cycle -------------------------------------------------------------------

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        """A best-effort call while shutting down: short timeout, errors ignored."""
        with contextlib.suppress(Exception):
            return await asyncio.wait_for(
                self.client.request(method, path, body), DRAIN_CALL_TIMEOUT
            )
        return None

    async def drain(self) -> None:
        """Take nothing new, let running tasks finish, report what could not."""
        self.draining.set()
        await self._call("PUT", f"{self.node}/status", {"status": "maintenance"})
        if self.running:
            _, pending = await asyncio.wait(
                set(self.running.values()), timeout=self.config.drain_timeout
            )
            for job in pending:
                job.cancel()
        body = await self._call("GET", f"{self.node}/tasks")
        for task in (body or {}).get("tasks", []):  # assigned, never started: hand back
            await self._call(
                "POST",
                f"/tasks/{task['task_id']}/result",
                {
                    "node_id": self.config.node_id,
                    "status": "failed",
                    "error_message": "node is shutting down",
                },
            )
        for task_id in list(self.running):
            await self._call(
                "POST",
                f"/tasks/{task_id}/result",
                {
                    "node_id": self.config.node_id,
                    "status": "failed",
                    "error_message": "node shut down before the task finished",
                },
            )

    async def serve(self, stop: asyncio.Event) -> None:
        await self.register()
        workers = [
            asyncio.create_task(self.heartbeats(), name="heartbeats"),
            asyncio.create_task(self.poll(), name="poll"),
        ]
        stopping = asyncio.ensure_future(stop.wait())
        try:
            # supervised: a loop that ends (crash, refused credentials) ends the process
            done, _ = await asyncio.wait({stopping, *workers}, return_when=asyncio.FIRST_COMPLETED)
            ended = [w for w in workers if w in done]
            if ended and not stop.is_set():
                loop = ended[0]
                exc = loop.exception()
                if isinstance(exc, AuthFailed):
                    raise exc
                log.error("the %s loop ended: %r; exiting", loop.get_name(), exc)
                raise LoopEnded(f"the {loop.get_name()} loop ended: {exc!r}") from exc
            log.info("draining %d running task(s)", len(self.running))
            await self.drain()
        finally:
            stopping.cancel()
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            await self.client.close()


def held_ids(running: Iterable[str], limit: int = HELD_LIMIT) -> str:
    """The ``held`` query value: running task ids, comma-separated, at most ``limit``
    characters (ids left out are handed back by the API and skipped: a re-poll)."""
    out: list[str] = []
    size = 0
    for task_id in running:
        size += len(task_id) + bool(out)
        if size > limit:
            break
        out.append(task_id)
    return ",".join(out)


def _positive(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0
