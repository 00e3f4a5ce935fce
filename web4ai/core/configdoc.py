"""The documented default configuration file (``web4ai --generate-config``)."""

from __future__ import annotations

CONFIG_TEMPLATE = """\
# Web4AI Orchestrator configuration.
# Load it with `web4ai api --config orchestrator_config.yaml`: it is validated and
# stored in the Web4AIOrchestrator object, where GET/PUT /api/v1/config read and
# change it live. Every setting is optional; the values below are the defaults.

orchestrator:
  id: web4ai_main_orchestrator   # name reported by /health, /status and the WebSocket
  host: 0.0.0.0                  # informational: where the API listens in a cluster
  port: 9000                     # informational: the API port
  heartbeat_interval: 30         # seconds; a node silent for 3 x this goes offline (1..3600)
  disruption_threshold: 0.55     # more than this share of nodes silent at once is taken for
                                 # an outage on our side: nobody goes offline for a while
  disruption_grace_intervals: 2  # that while, and after a start or leader change, in
                                 # heartbeat intervals
  task_timeout: 300              # default seconds from assignment to failure of an attempt
  auto_discovery: true           # probe network.discovery_endpoints every heartbeat_interval
                                 # and send unregistered nodes a join (URL + node key)
  task_retention: 3600           # seconds a finished task is kept before it is deleted

network:
  discovery_endpoints: []        # URLs of nodes started with `web4ai node --listen`
                                 # (set by an admin; private addresses are allowed)
  load_balance_algorithm: weighted_round_robin
                                 # round_robin | weighted_round_robin | least_connections
                                 # | resource_aware | latency_optimized
  max_nodes: 100                 # registrations beyond this answer 409 MAX_NODES_REACHED
  min_nodes: 1                   # auto_scaling advice stays within min_nodes..max_nodes

performance:
  monitoring_enabled: true       # false: no metrics history, no recommendations
  optimization_enabled: true     # true: the scheduler prefers underloaded nodes
  cpu_threshold: 80              # percent; nodes at or above get no new tasks
  memory_threshold: 85           # percent; nodes at or above get no new tasks
  target_response_time_ms: 150   # load_rebalancing advice above this average
  target_utilization: 0.7        # auto_scaling aims at this share of busy slots

security:
  api_key_required: true         # Bearer keys, stored hashed in the Secret web4ai-api-keys
  max_requests_per_minute: 6000  # per API key (or client address when keys are off)
  max_body_bytes: 1048576        # larger request bodies answer 413 PAYLOAD_TOO_LARGE
  allow_private_callbacks: false # let callbacks reach loopback, private and link-local addresses
                                 # (metadata, multicast and reserved addresses stay refused)
  callback_allowed_networks: []  # CIDRs callbacks may reach, e.g. ["10.96.0.0/12"]
  callback_allowed_hosts: []     # names (or *.suffix) whose callbacks may reach private addresses
  max_agents_per_node: 64        # the most agents_count a node key may claim

websocket:
  enabled: true                  # false: port 9001 refuses, /api/v1/ws answers 503
  port: 9001                     # the websockets server (applies at the next API start);
                                 # /api/v1/ws serves the same stream
  max_connections: 100
"""
