"""What each route declares once, next to its handler: whether it answers without a
key, what a node key may do there, and the JSON schemas of its body and query. The
access check (``web4ai.api.app``, ``web4ai.api.auth.authorize``) and the OpenAPI
generator (``web4ai.api.openapi``) both read it; nothing is keyed by route name.

    @routes.post("/api/v1/nodes/{node_id}/heartbeat", name="heartbeat")
    @declare(node=NodeAccess.OWN, body=body_schema(Heartbeat),
             response=response_schema(HeartbeatAnswer))
    async def heartbeat(request): ...

Roles: ``admin`` may do everything, ``read-only`` every GET (and HEAD), ``node`` what
``node`` says.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar

from pydantic import BaseModel

H = TypeVar("H", bound=Callable[..., Any])
ATTRIBUTE = "__web4ai_route__"


class NodeAccess(Enum):
    NONE = "none"  # node keys are refused
    OWN = "own"  # only on its own node: the {node_id} of the path is the key's
    ANY = "any"  # the node protocol: checked per task in the handler, or filtered


@dataclass(frozen=True)
class RouteSpec:
    public: bool = False  # answers without a key
    node: NodeAccess = NodeAccess.NONE
    body: dict[str, Any] | None = None  # JSON schema of the request body
    query: tuple[dict[str, Any], ...] = ()  # OpenAPI query parameters
    response: type[BaseModel] | None = None  # the model of the 200 body
    admin: bool = False  # admin keys only, reads included (keys and join tokens)


DEFAULT = RouteSpec()


def declare(
    *,
    public: bool = False,
    node: NodeAccess = NodeAccess.NONE,
    body: dict[str, Any] | None = None,
    query: Iterable[dict[str, Any]] = (),
    response: type[BaseModel] | None = None,
    admin: bool = False,
) -> Callable[[H], H]:
    """Attach a route's declaration to its handler (put it under ``@routes.<method>``).
    ``body`` is a JSON schema, ``response`` a model; both come from ``web4ai.core.schemas``."""
    spec = RouteSpec(public, node, body, tuple(query), response, admin)

    def mark(handler: H) -> H:
        setattr(handler, ATTRIBUTE, spec)
        return handler

    return mark


def spec_of(handler: object) -> RouteSpec:
    """The declaration of a handler (an undeclared one: not public, admin and read-only)."""
    spec: RouteSpec = getattr(handler, ATTRIBUTE, DEFAULT)
    return spec


def query_param(name: str, schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    """An OpenAPI query parameter."""
    param: dict[str, Any] = {"name": name, "in": "query"}
    if description:
        param["description"] = description
    return param | {"schema": schema}
