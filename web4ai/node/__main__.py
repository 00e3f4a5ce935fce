"""``python -m web4ai.node`` (also ``web4ai node``): run the reference node."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import signal
import sys

import web4ai
from web4ai import eventloop
from web4ai.node.agent import (
    AuthFailed,
    LoopEnded,
    NodeAgent,
    registration_body,
    usable_executors,
)
from web4ai.node.config import NodeConfig, load_config
from web4ai.node.executors import Executor, load_executors
from web4ai.node.joining import JoinRefused, credentials
from web4ai.node.listening import Listener, start_listener
from web4ai.observability.logs import LOG_FORMATS, NodeIdFilter, setup_logging

log = logging.getLogger("web4ai.node")


def registration_document(config: NodeConfig, executors: list[str]) -> dict[str, object]:
    """What a discovery probe reads at ``GET /web4ai/node``."""
    return {
        "node_id": config.node_id,
        "host": config.host,
        "port": config.port,
        "node_type": config.node_type,
        "capabilities": config.capabilities or executors,
        "agents_count": config.agents,
        "version": web4ai.__version__,
    }


async def serve(config: NodeConfig, stop: asyncio.Event) -> None:
    executors = load_executors()
    if config.executors:
        unknown = sorted(set(config.executors) - set(executors))
        if unknown:
            raise SystemExit(f"unknown executors {unknown}; installed: {sorted(executors)}")
        executors = {k: v for k, v in executors.items() if k in config.executors}
    runner = None
    if config.listen:
        listener = Listener(registration_document(config, usable_executors(executors, config)))
        runner = await start_listener(listener, config.listen)
        if config.orchestrator_url is None:
            log.info("no orchestrator URL: waiting to be discovered on %s", config.listen)
            stopping: asyncio.Future[object] = asyncio.ensure_future(stop.wait())
            joined: asyncio.Future[object] = listener.joined  # type: ignore[assignment]
            await asyncio.wait({joined, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if not listener.joined.done():
                await runner.cleanup()
                return
            join = listener.joined.result()
            config = dataclasses.replace(
                config, orchestrator_url=join.orchestrator_url, api_key=join.api_key
            )
    try:
        config = await with_credentials(config, executors)
        await NodeAgent(config, executors).serve(stop)
    finally:
        if runner is not None:
            with contextlib.suppress(Exception):
                await runner.cleanup()


async def with_credentials(config: NodeConfig, executors: dict[str, Executor]) -> NodeConfig:
    """``config`` with its key: given, saved, or bought with the join token."""
    try:
        config = await credentials(config, registration_body(config, executors))
    except JoinRefused as exc:
        log.error("the orchestrator refused the join token: %s. Exiting.", exc)
        raise AuthFailed(str(exc)) from None
    for handler in logging.getLogger().handlers:  # the id the join gave
        for f in handler.filters:
            if isinstance(f, NodeIdFilter):
                f.node_id = config.node_id
    return config


def main(argv: list[str] | None = None) -> int:
    config = load_config(argv)
    if config.log_format not in LOG_FORMATS:
        raise SystemExit(f"--log-format must be one of {', '.join(LOG_FORMATS)}")
    setup_logging(config.log_format)
    for handler in logging.getLogger().handlers:
        handler.addFilter(NodeIdFilter(config.node_id))  # every line is about this node

    async def amain() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(config, stop)

    try:
        eventloop.run(amain())
    except AuthFailed:
        return 3  # logged: the credentials were refused
    except LoopEnded:
        return 4  # logged: a background loop ended
    return 0


if __name__ == "__main__":
    sys.exit(main())
