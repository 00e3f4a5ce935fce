"""``web4ai keys|join-tokens create|list|revoke``, ``web4ai status``, ``web4ai config
get|set`` and ``web4ai control start|stop``."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from web4ai.client import Client
from web4ai.commands.tables import duration, emit, field_rows, when
from web4ai.core.durations import parse_duration
from web4ai.core.keys import ROLES

HELP = """\
    web4ai status                                the network at a glance
    web4ai metrics [performance|history]         metrics, recommendations, recent samples
    web4ai health | whoami | websocket-info      the API's health, your key, the WebSocket
    web4ai config get [SECTION[.KEY]]            show the configuration
    web4ai config set SECTION.KEY=VALUE ...      change it (VALUE as JSON, else text)
    web4ai control start|stop                    resume or pause assignments and submission
    web4ai keys create --role R [--node-id N] [--capabilities a,b] [--expires-in 30d]
    web4ai keys list | revoke KEY_ID             API keys (admin; the key is shown once)
    web4ai join-tokens create [--ttl 24h] [--uses N] [--capabilities a,b] [--node-prefix P]
    web4ai join-tokens list | revoke TOKEN_ID    tokens that let nodes join (admin)"""


def _csv(text: str) -> list[str]:
    return [s.strip() for s in text.split(",") if s.strip()]


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_parsers(sub: Any) -> None:
    sub.add_parser("status", help="the network at a glance (GET /status)")
    mt = sub.add_parser("metrics", help="metrics (GET /metrics, /metrics/performance, /history)")
    mt.add_argument("view", nargs="?", choices=["network", "performance", "history"])
    mt.add_argument("--window", type=int, default=900, help="history: seconds (1-3600)")
    sub.add_parser("health", help="the API's health (GET /health)")
    sub.add_parser("whoami", help="the key in use: its name and role (GET /whoami)")
    sub.add_parser("websocket-info", help="the WebSocket endpoints (GET /websocket/info)")
    c = sub.add_parser("config", help="show (get) or change (set) the configuration")
    c.add_argument("action", choices=["get", "set"])
    c.add_argument("items", nargs="*", help="get: [SECTION[.KEY]]; set: SECTION.KEY=VALUE ...")
    ctl = sub.add_parser("control", help="start (resume) or stop (pause) the orchestrator")
    ctl.add_argument("action", choices=["start", "stop"])
    k = sub.add_parser("keys", help="create, list and revoke API keys (admin)")
    k.add_argument("action", choices=["create", "list", "revoke"])
    k.add_argument("key_id", nargs="?", help="revoke: the key's id (from keys list)")
    k.add_argument("--role", choices=ROLES)
    k.add_argument("--node-id", help="node keys: the node it acts for")
    k.add_argument("--capabilities", type=_csv, help="node keys: the only ones it may claim")
    k.add_argument("--expires-in", type=_duration, help="e.g. 90d, 12h (default: never)")
    k.add_argument("--expires-at", help="an RFC 3339 time (default: never)")
    k.add_argument("--description")
    j = sub.add_parser("join-tokens", help="create, list and revoke join tokens (admin)")
    j.add_argument("action", choices=["create", "list", "revoke"])
    j.add_argument("token_id", nargs="?", help="revoke: the token's id (before the dot)")
    j.add_argument("--ttl", help="how long it is valid: 24h (default), at most 7d")
    j.add_argument("--uses", type=int, help="how many nodes may join with it (default 1)")
    j.add_argument("--capabilities", type=_csv, help="the only ones joined nodes may claim")
    j.add_argument("--node-prefix", help="joined nodes' ids start with it")
    j.add_argument("--description")


def status_command(args: argparse.Namespace, client: Client) -> int:
    data = client.status()
    m = data.get("network_metrics") or {}
    tasks = data.get("tasks") or {}
    nodes = data.get("nodes") or {}
    rows = [
        ("orchestrator", str(data.get("orchestrator_id"))),
        ("state", "paused (web4ai control start resumes)" if data.get("paused") else "running"),
        ("uptime", duration(data.get("uptime"))),
        ("nodes", f"{nodes.get('active', 0)} active of {nodes.get('total', 0)}"),
        ("by status", ", ".join(f"{k} {v}" for k, v in (nodes.get("by_status") or {}).items())),
        ("agents", str((data.get("agents") or {}).get("total", 0))),
        (
            "tasks",
            ", ".join(
                f"{k} {tasks.get(k, 0)}" for k in ("pending", "active", "completed", "failed")
            ),
        ),
        ("success rate", f"{100 * float(m.get('success_rate') or 0):.1f} %"),
        ("throughput", f"{float(m.get('throughput_per_minute') or 0):.1f} tasks/min"),
        ("response time", duration(float(m.get("average_response_time") or 0) / 1000)),
        ("utilization", f"{100 * float(m.get('network_utilization') or 0):.1f} %"),
    ]
    emit(data, args.output, [("FIELD", "VALUE"), *rows])
    return 0


def metrics_command(args: argparse.Namespace, client: Client) -> int:
    if args.view == "history":
        samples = client.metrics_history(args.window)
        now = time.time()
        history = [
            (
                when(x.get("timestamp"), now),
                str(x.get("active_nodes", "")),
                str(x.get("pending_tasks", "")),
                str(x.get("active_tasks", "")),
                f"{100 * float(x.get('network_utilization') or 0):.1f} %",
            )
            for x in samples
        ]
        header = ("WHEN", "ACTIVE NODES", "PENDING", "ACTIVE", "UTILIZATION")
        emit(samples, args.output, [header, *history])
        return 0
    if args.view == "performance":
        perf = client.performance()
        recs = perf.get("recommendations") or []
        advice = [
            (str(r.get("type")), str(r.get("priority", "")), str(r.get("message", "")))
            for r in recs
        ]
        emit(perf, args.output, [("RECOMMENDATION", "PRIORITY", "MESSAGE"), *advice])
        return 0
    data = client.metrics()
    metrics = [
        (f"{section}.{key}", json.dumps(value) if not isinstance(value, float) else f"{value:g}")
        for section, block in data.items()
        if isinstance(block, dict)
        for key, value in block.items()
        if not isinstance(value, dict | list)
    ]
    emit(data, args.output, [("METRIC", "VALUE"), *metrics])
    return 0


def document_command(args: argparse.Namespace, client: Client) -> int:
    """``health``, ``whoami``, ``websocket-info``: the answer as FIELD/VALUE rows."""
    calls = {
        "health": client.health,
        "whoami": client.whoami,
        "websocket-info": client.websocket_info,
    }
    doc = calls[args.command]()
    emit(doc, args.output, [("FIELD", "VALUE"), *field_rows(doc, time.time())])
    return 0


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def config_command(args: argparse.Namespace, client: Client) -> int:
    if args.action == "get":
        config = client.get_config()
        for part in args.items[0].split(".") if args.items else []:
            if not isinstance(config, dict) or part not in config:
                raise SystemExit(f"no setting {args.items[0]!r}")
            config = config[part]
        if not isinstance(config, dict):
            emit(config, args.output, [("VALUE",), (json.dumps(config),)])
            return 0
        rows = [
            (f"{s}.{k}" if isinstance(v, dict) else s, json.dumps(val))
            for s, v in sorted(config.items())
            for k, val in (sorted(v.items()) if isinstance(v, dict) else [("", v)])
        ]
        emit(config, args.output, [("SETTING", "VALUE"), *rows])
        return 0
    if not args.items:
        raise SystemExit("web4ai config set needs SECTION.KEY=VALUE")
    update: dict[str, dict[str, Any]] = {}
    for item in args.items:
        name, eq, raw = item.partition("=")
        section, dot, key = name.partition(".")
        if not eq or not dot or not section or not key:
            raise SystemExit(f"not SECTION.KEY=VALUE: {item!r}")
        update.setdefault(section, {})[key] = _value(raw)
    answer = client.set_config(update)
    rows = [(f"{s}.{k}", json.dumps(v)) for s, kv in update.items() for k, v in kv.items()]
    emit(answer, args.output, [("SETTING", "NEW VALUE"), *rows])
    return 0


def control_command(args: argparse.Namespace, client: Client) -> int:
    answer = client.start() if args.action == "start" else client.stop()
    emit(
        answer,
        args.output,
        [
            ("ORCHESTRATOR", "STATE"),
            (
                str(answer.get("orchestrator_id")),
                "started" if args.action == "start" else "stopped",
            ),
        ],
    )
    return 0


def keys_command(args: argparse.Namespace, client: Client) -> int:
    now = time.time()
    if args.action == "list":
        keys = client.list_keys()
        rows = [
            (
                k["id"],
                k["role"],
                k.get("node_id") or "",
                ",".join(k["capabilities"]) if k.get("capabilities") is not None else "",
                when(k.get("expires_at"), now) or "never",
                when(k.get("last_used"), now) or "never",
                k.get("description") or "",
            )
            for k in keys
        ]
        emit(
            keys,
            args.output,
            [("ID", "ROLE", "NODE", "CAPABILITIES", "EXPIRES", "LAST USED", "DESCRIPTION"), *rows],
        )
        return 0
    if args.action == "revoke":
        if not args.key_id:
            raise SystemExit("web4ai keys revoke needs a KEY_ID (see web4ai keys list)")
        answer = client.revoke_key(args.key_id)
        emit(answer, args.output, [("KEY", "STATE"), (args.key_id, "revoked")])
        return 0
    if not args.role:
        raise SystemExit("web4ai keys create needs --role " + "|".join(ROLES))
    expires: str | float | None = args.expires_at
    if args.expires_in is not None:
        expires = now + args.expires_in
    answer = client.create_key(
        args.role,
        node_id=args.node_id,
        capabilities=args.capabilities,
        expires_at=expires,
        description=args.description,
    )
    key = answer["key"]
    emit(
        answer,
        args.output,
        [
            ("ID", "ROLE", "NODE", "EXPIRES", "KEY (shown once; keep it)"),
            (
                key["id"],
                key["role"],
                key.get("node_id") or "",
                when(key.get("expires_at"), now) or "never",
                answer["api_key"],
            ),
        ],
    )
    return 0


def join_tokens_command(args: argparse.Namespace, client: Client) -> int:
    now = time.time()
    if args.action == "list":
        tokens = client.list_join_tokens()
        rows = [
            (
                t["id"],
                t["state"],
                f"{t['used']}/{t['uses']}",
                when(t.get("expires_at"), now),
                t.get("node_prefix") or "",
                ",".join(t["capabilities"]) if t.get("capabilities") is not None else "",
                t.get("description") or "",
            )
            for t in tokens
        ]
        emit(
            tokens,
            args.output,
            [
                ("ID", "STATE", "USED", "EXPIRES", "NODE PREFIX", "CAPABILITIES", "DESCRIPTION"),
                *rows,
            ],
        )
        return 0
    if args.action == "revoke":
        if not args.token_id:
            raise SystemExit(
                "web4ai join-tokens revoke needs a TOKEN_ID (see web4ai join-tokens list)"
            )
        answer = client.revoke_join_token(args.token_id.split(".")[0])
        emit(answer, args.output, [("TOKEN", "STATE"), (answer["id"], "revoked")])
        return 0
    answer = client.create_join_token(
        ttl=args.ttl,
        uses=args.uses,
        capabilities=args.capabilities,
        node_prefix=args.node_prefix,
        description=args.description,
    )
    token = answer["join_token"]
    emit(
        answer,
        args.output,
        [
            ("TOKEN (shown once)", "USES", "EXPIRES"),
            (answer["token"], str(token["uses"]), when(token.get("expires_at"), now)),
        ],
    )
    return 0


COMMANDS = {
    "status": status_command,
    "metrics": metrics_command,
    "health": document_command,
    "whoami": document_command,
    "websocket-info": document_command,
    "config": config_command,
    "control": control_command,
    "keys": keys_command,
    "join-tokens": join_tokens_command,
}
