"""Every bound on what goes into an object, in one place.

The API validates requests against these numbers and the operator bounds what it
writes into a status with them; ``tests/unit/test_limits.py`` checks that they agree
with the CRD schemas under ``crds/``, so no accepted request can produce an object
the API server rejects.
"""

from __future__ import annotations

from collections.abc import Iterable

# Ids and short strings
ID_MAX = 63
NAME_MAX = 128  # task_type, node_type, version, agent_type, a capability
LONG_NAME_MAX = 253  # host, location, agent_id
CALLBACK_URL_MAX = 2048
MODEL_MAX = 253  # a task's requirements.model (as an agent's model names)
AFFINITY_KEY_MAX = 256  # a task's requirements.affinity_key
PROGRESS_MESSAGE_MAX = 1024

# Lists
CAPABILITIES_MAX = 256
NODE_LIST_MAX = 1024  # preferred_nodes, exclude_nodes
AGENTS_MAX = 1024

# Sizes (bytes as compact JSON). An object is stored whole in etcd, whose default
# request limit is 1.5 MiB: spec and status together must stay below it.
INPUT_DATA_MAX_BYTES = 512 * 1024
METADATA_MAX_BYTES = 64 * 1024  # task metadata, node metadata, agents_status, metrics
AGENTS_MAX_BYTES = 256 * 1024
RESULT_MAX_BYTES = 384 * 1024
OBJECT_MAX_BYTES = 1536 * 1024  # etcd's default --max-request-bytes
# what a body may hold at all (the parse boundary, web4ai.core.schemas.storable)
DEPTH_MAX = 64  # levels of nesting; the body itself is level 1
INT_MIN, INT_MAX = -(2**63), 2**63 - 1  # Kubernetes stores 64-bit integers

# Status text (metav1.Condition limits, and our own for error text)
CONDITION_REASON_MAX = 1024
CONDITION_MESSAGE_MAX = 32768
EXPLANATION_MAX = 4096  # what the operator writes into a condition's message
ERROR_MESSAGE_MAX = 32768
ATTEMPT_ERROR_MAX = 1024
ATTEMPTS_MAX = 101  # max_retries (100) + 1

# Numbers
PRIORITY_MIN, PRIORITY_MAX = 1, 5
TIMEOUT_MIN, TIMEOUT_MAX = 1, 604800
RETRIES_MIN, RETRIES_MAX = 0, 100

TRUNCATED = "... [truncated {n} characters]"


def truncate(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, ending with a marker saying how
    much was cut; unchanged when it fits."""
    if len(text) <= limit:
        return text
    # the marker's own length depends on n; the fixed point is reached in two steps
    n = len(text) - limit
    for _ in range(3):
        marker = TRUNCATED.format(n=n)
        keep = max(limit - len(marker), 0)
        n = len(text) - keep
    return (text[:keep] + TRUNCATED.format(n=n))[:limit]


def summarise(what: str, names: Iterable[str], shown: int = 3, name_max: int = 64) -> str:
    """``missing 250 capabilities: a, b, c, ...``: a count and the first few names."""
    items = sorted(names)
    head = [truncate(n, name_max) for n in items[:shown]]
    more = ", ..." if len(items) > shown else ""
    noun = what
    if len(items) == 1:
        noun = what[:-3] + "y" if what.endswith("ies") else what.removesuffix("s")
    return f"{len(items)} {noun}: " + ", ".join(head) + more
