"""Route declarations (web4ai.api.routing) decide access: what each key role may do on
each route, read from the routes the app serves."""

from __future__ import annotations

from aiohttp import web

from web4ai.api.app import route_tables
from web4ai.api.auth import Principal, authorize
from web4ai.api.routing import spec_of

NODE = Principal("n1-key", "node", "n1")
READER = Principal("reader", "read-only")
ADMIN = Principal("admin", "admin")

# join: no key; the join token is its credential, checked by the handler
PUBLIC = {"health", "index", "dashboard", "openapi", "whoami", "join"}
# admin keys only, reads included: keys and join tokens
ADMIN_ONLY = {"keys", "keys_create", "keys_revoke", "join_tokens", "join_tokens_create"}
ADMIN_ONLY |= {"join_tokens_revoke"}
# (method, route) -> whether a node key may, on its own node
NODE_MAY = {
    ("POST", "register"),
    ("POST", "heartbeat"),
    ("PUT", "node_status"),
    ("GET", "node"),
    ("GET", "node_tasks"),
    ("POST", "task_start"),
    ("POST", "task_result"),
    ("POST", "task_progress"),
    ("GET", "health"),
    ("GET", "ws"),
}
ANY_NODE = {"task_start", "task_result", "task_progress", "health", "ws"}


def served() -> list[web.AbstractRoute]:
    app = web.Application()
    for table in route_tables():
        app.add_routes(table)
    return [r for r in app.router.routes() if r.name]


def test_public_routes_are_the_declared_ones() -> None:
    assert {r.name for r in served() if spec_of(r.handler).public} == PUBLIC


def test_what_each_role_may_do_on_each_route() -> None:
    for route in served():
        spec, method, name = spec_of(route.handler), route.method, route.name
        assert authorize(ADMIN, method, spec, {}) is None
        reads = method in ("GET", "HEAD") and name not in ADMIN_ONLY
        assert spec.admin == (name in ADMIN_ONLY), name
        assert (authorize(READER, method, spec, {}) is None) == reads, (method, name)
        own = authorize(NODE, method, spec, {"node_id": "n1"}) is None
        other = authorize(NODE, method, spec, {"node_id": "n2"}) is None
        assert own == ((method, name) in NODE_MAY), (method, name)
        assert other == ((method, name) in NODE_MAY and name in ANY_NODE), (method, name)
