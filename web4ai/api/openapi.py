"""The OpenAPI 3 document, generated from the app's own routes and request schemas,
so that it covers every route by construction."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from web4ai.api.context import CONTEXT
from web4ai.core import validation as v
from web4ai.core.config import CONFIG_SCHEMA
from web4ai.core.model import TaskPhase

BODIES: dict[str, dict[str, Any]] = {
    "register": v.object_schema(v.REGISTRATION),
    "heartbeat": v.object_schema(v.HEARTBEAT),
    "node_status": v.object_schema(v.STATUS_UPDATE),
    "tasks_submit": v.object_schema(v.TASK),
    "task_start": v.object_schema(v.TASK_START),
    "task_result": v.object_schema(v.TASK_RESULT),
    "node_drain": v.object_schema(v.DRAIN),
    "config_put": {
        "type": "object",
        "properties": {
            section: v.object_schema(schema) | {"additionalProperties": False}
            for section, schema in CONFIG_SCHEMA.items()
        },
        "additionalProperties": False,
    },
}
QUERIES: dict[str, list[dict[str, Any]]] = {
    "tasks": [
        {
            "name": "status",
            "in": "query",
            "schema": {"type": "string", "enum": ["pending", "active", "completed", "failed"]},
        },
        {
            "name": "phase",
            "in": "query",
            "schema": {"type": "string", "enum": [p.value for p in TaskPhase]},
        },
        {
            "name": "limit",
            "in": "query",
            "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 50},
        },
        {
            "name": "offset",
            "in": "query",
            "schema": {"type": "integer", "minimum": 0, "default": 0},
        },
    ],
    "metrics_history": [
        {
            "name": "window",
            "in": "query",
            "description": "seconds of history to return (the buffer keeps one hour)",
            "schema": {"type": "integer", "minimum": 1, "maximum": 3600, "default": 900},
        }
    ],
    "node_tasks": [
        {
            "name": "wait",
            "in": "query",
            "schema": {"type": "number", "minimum": 0, "maximum": 60, "default": 0},
        }
    ],
}
ERROR = {
    "type": "object",
    "required": ["success", "error", "timestamp", "details"],
    "properties": {
        "success": {"type": "boolean", "enum": [False]},
        "error": {"type": "string"},
        "timestamp": {"type": "string"},
        "details": {
            "type": "object",
            "required": ["code"],
            "properties": {"code": {"type": "string"}},
        },
    },
}
PUBLIC = {"health", "index", "dashboard", "openapi", "whoami"}


def operation(route: web.AbstractRoute, path: str) -> dict[str, Any]:
    name = route.name or ""
    doc = (route.handler.__doc__ or name.replace("_", " ")).strip().splitlines()[0]
    op: dict[str, Any] = {
        "operationId": name,
        "summary": doc,
        "responses": {
            "200": {
                "description": "Success",
                "content": {"application/json": {"schema": {"type": "object"}}},
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
    params += QUERIES.get(name, [])
    if params:
        op["parameters"] = params
    if name in BODIES:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": BODIES[name]}},
        }
    if name in PUBLIC:
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
            "description": "REST API of the Web4AI Orchestrator, plus the node protocol.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": {"Error": ERROR},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


def openapi_routes() -> web.RouteTableDef:
    routes = web.RouteTableDef()

    @routes.get("/api/v1/openapi.json", name="openapi")
    async def openapi(request: web.Request) -> web.Response:
        """The OpenAPI 3 document of this API."""
        return web.json_response(document(request.app, request.app[CONTEXT].version))

    return routes
