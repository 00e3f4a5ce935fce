"""Joining with a token: a node started with ``--join-token`` (or ``WEB4AI_JOIN_TOKEN``)
and no key calls ``POST /api/v1/join`` once, and keeps the node key it gets in a state
file (``<state-dir>/node.json``, mode 0600) that every later start uses, so a token is
never needed twice. An explicit ``--api-key`` always wins. Nothing here logs a key or
a token."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
from pathlib import Path
from typing import Any

from web4ai.client import AsyncClient, Web4AIError
from web4ai.core.urls import api_base
from web4ai.node.config import DEFAULT_ORCHESTRATOR_URL, NodeConfig

log = logging.getLogger(__name__)

STATE_FILE = "node.json"
MAX_BACKOFF = 30.0


class JoinRefused(Exception):
    """The orchestrator refused the join token (expired, used up, revoked...)."""


def state_dir(config: NodeConfig, environ: dict[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    if config.state_dir:
        return Path(config.state_dir).expanduser()
    base = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "web4ai"


def load_state(directory: Path) -> dict[str, Any] | None:
    path = directory / STATE_FILE
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable node state %s: %s", path, exc)
        return None
    return doc if isinstance(doc, dict) and doc.get("api_key") and doc.get("node_id") else None


def save_state(directory: Path, doc: dict[str, Any]) -> Path:
    """Write the state file atomically, readable by its owner only (0600)."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / STATE_FILE
    tmp = directory / f".{STATE_FILE}.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(doc, out)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


def url_of(config: NodeConfig) -> str:
    return api_base(config.orchestrator_url or DEFAULT_ORCHESTRATOR_URL)


def with_state(config: NodeConfig, state: dict[str, Any]) -> NodeConfig:
    return dataclasses.replace(
        config, node_id=str(state["node_id"]), api_key=str(state["api_key"]), node_id_given=True
    )


async def credentials(config: NodeConfig, body: dict[str, Any]) -> NodeConfig:
    """``config`` with the key to use: ``--api-key`` if given; else the saved key of this
    orchestrator; else the key a join with ``--join-token`` buys (then saved). ``body``
    is the node's registration, sent with the join."""
    if config.api_key:
        return config
    directory = state_dir(config)
    state = load_state(directory)
    if state is not None and state.get("orchestrator_url") in (None, url_of(config)):
        if config.node_id_given and state["node_id"] != config.node_id:
            log.warning(
                "using the saved identity %s from %s, not --node-id %s",
                state["node_id"],
                directory / STATE_FILE,
                config.node_id,
            )
        return with_state(config, state)
    if not config.join_token:
        return config
    answer = await join(config, body)
    state = {
        "orchestrator_url": url_of(config),
        "node_id": answer["node_id"],
        "key_id": answer["key_id"],
        "api_key": answer["api_key"],
    }
    path = save_state(directory, state)
    log.info("joined as %s; its key is saved in %s", answer["node_id"], path)
    return with_state(config, state)


async def join(config: NodeConfig, body: dict[str, Any]) -> dict[str, Any]:
    """``POST /join`` until it answers; a refusal (4xx) raises ``JoinRefused``."""
    assert config.join_token
    registration = dict(body)
    if config.node_id_given:
        registration["node_id"] = config.node_id
    else:
        registration.pop("agents", None)  # named after the id the orchestrator gives
    delay = 1.0
    async with AsyncClient(url_of(config), None, timeout=30) as client:
        while True:
            try:
                return await client.join(config.join_token, **registration)
            except Web4AIError as exc:
                if exc.status < 500 and exc.status != 429:
                    raise JoinRefused(f"{exc.message} ({exc.status} {exc.code})") from None
                log.warning("join: %s; retrying in %.0fs", exc.message, delay)
            except (OSError, TimeoutError) as exc:
                log.warning("join: orchestrator unreachable (%s); retrying in %.0fs", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF)
