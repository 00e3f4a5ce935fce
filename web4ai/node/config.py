"""Node configuration from flags, environment (WEB4AI_NODE_*) or a YAML file.

Precedence: flags > environment > YAML file > defaults.
"""

from __future__ import annotations

import argparse
import os
import socket
from dataclasses import Field, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml


def _default_node_id() -> str:
    host = "".join(c if c.isalnum() or c in "-_." else "-" for c in socket.gethostname())
    return f"node-{host}"[:63].strip("-_.") or "node-1"


DEFAULT_ORCHESTRATOR_URL = "http://127.0.0.1:9000/api/v1"


@dataclass
class NodeConfig:
    # None: DEFAULT_ORCHESTRATOR_URL, or with ``listen``, wait to be discovered
    orchestrator_url: str | None = None
    api_key: str | None = None
    node_id: str = field(default_factory=_default_node_id)
    host: str = "127.0.0.1"
    port: int = 8090
    node_type: str = "reference_node"
    capabilities: list[str] = field(default_factory=list)  # default: the executors' names
    agents: int = field(default_factory=lambda: os.cpu_count() or 1)
    max_concurrent_tasks: int | None = None
    location: str | None = None
    heartbeat_interval: float = 10.0
    poll_wait: float = 20.0
    drain_timeout: float = 30.0
    # a task done within this many seconds is reported without /start (one write to
    # the cluster instead of two); a longer one is started then; 0: always start first
    start_after: float = 0.25
    inference_url: str | None = None
    inference_model: str | None = None
    inference_api_key: str | None = None
    # models the test executors (test_task, echo) pretend to serve and hold loaded:
    # the agents report them, so that model-aware routing can be tried without a GPU
    simulate_models: list[str] = field(default_factory=list)
    listen: str | None = None  # HOST:PORT of the discovery endpoint (health, join)
    log_format: str = "text"  # text or json lines
    executors: list[str] = field(default_factory=list)  # default: every installed executor
    # join with this token (POST /api/v1/join) when no key is saved or given; the key it
    # buys is kept under state_dir (0600) and used from then on, across restarts
    join_token: str | None = None
    state_dir: str | None = None  # default: $XDG_STATE_HOME/web4ai or ~/.local/state/web4ai
    # whether node_id was set (flag, environment or file) rather than taken from the host
    node_id_given: bool = field(default=False, metadata={"setting": False})

    @property
    def capacity(self) -> int:
        return max(1, self.max_concurrent_tasks or self.agents)


def settings() -> list[Field[Any]]:
    """The fields a flag, the environment or the YAML file may set."""
    return [f for f in fields(NodeConfig) if f.metadata.get("setting", True)]


def _coerce(name: str, value: Any) -> Any:
    kind = {f.name: f.type for f in fields(NodeConfig)}[name]
    if value is None:
        return None
    if "list" in str(kind):
        return (
            [s.strip() for s in value.split(",") if s.strip()]
            if isinstance(value, str)
            else list(value)
        )
    if "int" in str(kind) and "float" not in str(kind):
        return int(value)
    if "float" in str(kind):
        return float(value)
    return str(value)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="web4ai node", description="Run a Web4AI worker node.")
    p.add_argument("--config", type=Path, help="YAML file with any of the settings below")
    for f in settings():
        flag = "--" + f.name.replace("_", "-")
        p.add_argument(flag, dest=f.name, default=None, help=f"(env WEB4AI_NODE_{f.name.upper()})")
    return p


def load_config(argv: list[str] | None = None, environ: dict[str, str] | None = None) -> NodeConfig:
    env = os.environ if environ is None else environ
    args = build_parser().parse_args(argv)
    values: dict[str, Any] = {}
    if args.config:
        doc = yaml.safe_load(args.config.read_text()) or {}
        if not isinstance(doc, dict):
            raise SystemExit(f"{args.config}: expected a mapping of settings")
        unknown = set(doc) - {f.name for f in settings()}
        if unknown:
            raise SystemExit(f"{args.config}: unknown settings {sorted(unknown)}")
        values.update({k: _coerce(k, v) for k, v in doc.items()})
    for f in settings():
        if f"WEB4AI_NODE_{f.name.upper()}" in env:
            values[f.name] = _coerce(f.name, env[f"WEB4AI_NODE_{f.name.upper()}"])
        if getattr(args, f.name) is not None:
            values[f.name] = _coerce(f.name, getattr(args, f.name))
    if "api_key" not in values and env.get("WEB4AI_API_KEY"):
        values["api_key"] = env["WEB4AI_API_KEY"]
    if "orchestrator_url" not in values and env.get("WEB4AI_URL"):
        values["orchestrator_url"] = env["WEB4AI_URL"]
    if "join_token" not in values and env.get("WEB4AI_JOIN_TOKEN"):
        values["join_token"] = env["WEB4AI_JOIN_TOKEN"]
    values["node_id_given"] = "node_id" in values
    return NodeConfig(**values)
