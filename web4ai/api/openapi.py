"""The OpenAPI 3 document, generated from the app's own routes and what each declares
(``web4ai.api.routing``: public or not, body, query and response schemas, the schemas
generated from the models of ``web4ai.core.schemas``), so that it covers every route by
construction."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from web4ai.api.context import CONTEXT
from web4ai.api.routing import declare, spec_of
from web4ai.core.limits import DEPTH_MAX
from web4ai.core.schemas import errors, openapi


def operation(route: web.AbstractRoute, path: str) -> dict[str, Any]:
    name = route.name or ""
    spec = spec_of(route.handler)
    doc = (route.handler.__doc__ or name.replace("_", " ")).strip().splitlines()[0]
    response = openapi.response_schema(spec.response) if spec.response else {"type": "object"}
    op: dict[str, Any] = {
        "operationId": name,
        "summary": doc,
        "responses": {
            "200": {
                "description": "Success",
                "content": {"application/json": {"schema": response}},
            },
            "default": {
                "description": "Error",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            },
        },
    }
    params = [
        {
            "name": p,
            "in": "path",
            "required": True,
            "schema": {"type": "string", "minLength": 1, "maxLength": 63},
        }
        for p in re.findall(r"{(\w+)}", path)
    ]
    params += spec.query
    if params:
        op["parameters"] = params
    if spec.body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": spec.body}},
        }
    if spec.public:
        op["security"] = []
    if name == "index":
        op["responses"]["200"] = {
            "description": "HTML page",
            "content": {"text/html": {"schema": {"type": "string"}}},
        }
    if name == "dashboard":
        op["responses"]["200"] = {
            "description": "A static file of the dashboard (JavaScript, CSS, SVG)",
            "content": {"text/javascript": {"schema": {"type": "string"}}},
        }
    return op


def document(app: web.Application, version: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if not path or route.method == "HEAD":
            continue
        paths.setdefault(path, {})[route.method.lower()] = operation(route, path)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Web4AI Orchestrator API",
            "version": version,
            "description": "REST API of the Web4AI Orchestrator, plus the node protocol. "
            + BOUNDARY,
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": {"Error": openapi.response_schema(errors.Error)},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


BOUNDARY = (
    "Every request body passes a parse boundary before anything is written: a number "
    "that is not finite, an integer outside 64 bits, nesting deeper than "
    f"{DEPTH_MAX} levels or a NUL character in a string or key answers 400 with the "
    "error envelope, one {field, message} per offending value, by path."
)


def openapi_routes() -> web.RouteTableDef:
    routes = web.RouteTableDef()

    @routes.get("/api/v1/openapi.json", name="openapi")
    @declare(public=True)
    async def openapi(request: web.Request) -> web.Response:
        """The OpenAPI 3 document of this API."""
        return web.json_response(document(request.app, request.app[CONTEXT].version))

    return routes
