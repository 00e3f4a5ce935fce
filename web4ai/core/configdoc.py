"""The documented default configuration file (``web4ai --generate-config``): the values
are the CRD's defaults (web4ai/core/defaults.py, generated from crds/); only the
comments are written here."""

from __future__ import annotations

import json
from typing import Any

from web4ai.core.config import to_camel
from web4ai.core.defaults import SPEC_DEFAULTS

HEADER = """\
# Web4AI Orchestrator configuration.
# Load it with `web4ai api --config orchestrator_config.yaml`: it is validated and
# stored in the Web4AIOrchestrator object, where GET/PUT /api/v1/config read and
# change it live. Every setting is optional; the values below are the defaults.
"""

# section -> (setting, its comment lines); the order is the file's
COMMENTS: dict[str, list[tuple[str, list[str]]]] = {
    "orchestrator": [
        ("id", ["name reported by /health, /status and the WebSocket"]),
        ("host", ["informational: where the API listens in a cluster"]),
        ("port", ["informational: the API port"]),
        ("heartbeat_interval", ["seconds; a node silent for 3 x this goes offline (1..3600)"]),
        (
            "disruption_threshold",
            [
                "more than this share of nodes silent at once is taken for",
                "an outage on our side: nobody goes offline for a while",
            ],
        ),
        (
            "disruption_grace_intervals",
            ["that while, and after a start or leader change, in", "heartbeat intervals"],
        ),
        ("task_timeout", ["default seconds from assignment to failure of an attempt"]),
        (
            "auto_discovery",
            [
                "probe network.discovery_endpoints every heartbeat_interval",
                "and send unregistered nodes a join (URL + node key)",
            ],
        ),
        ("task_retention", ["seconds a finished task is kept before it is deleted"]),
        (
            "max_retained_tasks",
            ["finished tasks kept at most, whatever their age (oldest go first)"],
        ),
    ],
    "network": [
        (
            "discovery_endpoints",
            [
                "URLs of nodes started with `web4ai node --listen`",
                "(set by an admin; private addresses are allowed)",
            ],
        ),
        (
            "load_balance_algorithm",
            [
                "round_robin | weighted_round_robin | least_connections",
                "| resource_aware | latency_optimized",
            ],
        ),
        ("max_nodes", ["registrations beyond this answer 409 MAX_NODES_REACHED"]),
        ("min_nodes", ["auto_scaling advice stays within min_nodes..max_nodes"]),
        (
            "max_heartbeats_per_second",
            [
                "all nodes' heartbeats per second at most: each node is told to beat",
                "every max(heartbeat_interval, active nodes / this) seconds",
            ],
        ),
        (
            "model_aware_routing",
            [
                "before the algorithm: a task's affinity_key keeps its node",
                "(CHWBL), else nodes holding its model loaded win",
            ],
        ),
        ("affinity_epsilon", ["no node takes over (1 + this) x its share of keyed tasks"]),
    ],
    "performance": [
        ("monitoring_enabled", ["false: no metrics history, no recommendations"]),
        ("optimization_enabled", ["true: the scheduler prefers underloaded nodes"]),
        ("cpu_threshold", ["percent; nodes at or above get no new tasks (100: never)"]),
        ("memory_threshold", ["percent; nodes at or above get no new tasks (100: never)"]),
        ("target_response_time_ms", ["load_rebalancing advice above this average"]),
        ("target_utilization", ["auto_scaling aims at this share of busy slots"]),
    ],
    "security": [
        ("api_key_required", ["Bearer keys, stored hashed in the Secret web4ai-api-keys"]),
        ("max_requests_per_minute", ["per API key (or client address when keys are off)"]),
        ("max_body_bytes", ["larger request bodies answer 413 PAYLOAD_TOO_LARGE"]),
        (
            "allow_private_callbacks",
            [
                "let callbacks reach loopback, private and link-local addresses",
                "(metadata, multicast and reserved addresses stay refused)",
            ],
        ),
        ("callback_allowed_networks", ['CIDRs callbacks may reach, e.g. ["10.96.0.0/12"]']),
        (
            "callback_allowed_hosts",
            ["names (or *.suffix) whose callbacks may reach private addresses"],
        ),
        ("max_agents_per_node", ["the most agents_count a node key may claim"]),
    ],
    "websocket": [
        ("enabled", ["false: port 9001 refuses, /api/v1/ws answers 503"]),
        (
            "port",
            [
                "the websockets server (applies at the next API start);",
                "/api/v1/ws serves the same stream",
            ],
        ),
        ("max_connections", []),
    ],
}

COLUMN = 33  # where comments start (0-based)


def scalar(value: Any) -> str:
    """``value`` as YAML writes a plain scalar (strings unquoted, as the file has them)."""
    if isinstance(value, str):
        return value
    return json.dumps(value)


def render(defaults: dict[str, Any] = SPEC_DEFAULTS) -> str:
    lines = [HEADER.rstrip("\n")]
    for section, settings in COMMENTS.items():
        lines.append("")
        lines.append(f"{section}:")
        for key, comments in settings:
            # a setting the CRD gives no default (a list) means: none
            line = f"  {key}: {scalar(defaults[section].get(to_camel(key), []))}"
            if comments and len(line) < COLUMN:
                lines.append(line.ljust(COLUMN) + "# " + comments[0])
                comments = comments[1:]
            else:
                lines.append(line)
            lines += [" " * COLUMN + "# " + c for c in comments]
    return "\n".join(lines) + "\n"


CONFIG_TEMPLATE = render()
