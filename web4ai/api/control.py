"""The orchestrator's spec through the API: pause and resume (control/stop,
control/start) and the configuration document (GET/PUT /config)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from web4ai.api.bodies import read_json
from web4ai.api.context import CONTEXT, ApiContext
from web4ai.api.errors import ApiError
from web4ai.api.presenting import heartbeat_doc
from web4ai.api.routing import declare
from web4ai.core import bodies, patches
from web4ai.core.config import config_to_spec, deep_merge, spec_to_config, validate_config
from web4ai.core.resources import ORCHESTRATORS
from web4ai.core.schemas import config, openapi, responses
from web4ai.core.validation import FieldError, ValidationFailed
from web4ai.k8s.errors import Conflict, Invalid, NotFound

routes = web.RouteTableDef()


async def set_paused(ctx: ApiContext, paused: bool) -> None:
    try:
        result = await ctx.writer.patch(
            ORCHESTRATORS, bodies.ORCHESTRATOR_NAME, patches.paused_patch(paused)
        )
    except NotFound:
        raise ApiError(
            503, "The orchestrator configuration object is missing", "ORCHESTRATOR_NOT_STARTED"
        ) from None
    ctx.state.record_orchestrator(result)


async def control(request: web.Request, paused: bool, verb: str) -> web.Response:
    ctx = request.app[CONTEXT]
    await set_paused(ctx, paused)
    return web.json_response(
        {
            "success": True,
            "message": f"Orchestrator {verb} successfully",
            "orchestrator_id": ctx.orchestrator_id,
        }
    )


@routes.post("/api/v1/control/start", name="control_start")
@declare(response=responses.ControlAnswer)
async def control_start(request: web.Request) -> web.Response:
    """Resume assignments and task submission."""
    return await control(request, False, "started")


@routes.post("/api/v1/control/stop", name="control_stop")
@declare(response=responses.ControlAnswer)
async def control_stop(request: web.Request) -> web.Response:
    """Pause: no new assignments; task submission answers 503."""
    return await control(request, True, "stopped")


@routes.get("/api/v1/config", name="config")
@declare(response=responses.ConfigAnswer)
async def get_config(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    return web.json_response(
        {
            "success": True,
            "config": spec_to_config(ctx.state.settings_spec()),
            "heartbeats": heartbeat_doc(ctx.state),
        }
    )


def config_invalid(errors: list[FieldError]) -> ApiError:
    """400 INVALID_CONFIG listing every problem of a config document."""
    return ApiError(
        400,
        "Configuration validation failed: " + "; ".join(f"{e.field}: {e.message}" for e in errors),
        "INVALID_CONFIG",
        errors=[e.as_dict() for e in errors],
    )


def check_config(doc: Any) -> None:
    errors = validate_config(doc)
    if errors:
        raise config_invalid(errors)


CONFIG_BODY = openapi.body_schema(config.Config)
CONFIG_ATTEMPTS = 3  # a PUT merged onto a copy that another write overtook is tried again


@routes.put("/api/v1/config", name="config_put")
@declare(body=CONFIG_BODY, response=responses.ConfigAnswer)
async def put_config(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    try:
        update = await read_json(request)
    except ValidationFailed as exc:  # the parse boundary's refusals are config problems here
        raise config_invalid(exc.errors) from None
    check_config(update)
    orch = ctx.state.orchestrator()
    for attempt in range(CONFIG_ATTEMPTS):
        if orch is None:
            raise ApiError(
                503, "The orchestrator configuration object is missing", "ORCHESTRATOR_NOT_STARTED"
            )
        merged = deep_merge(spec_to_config(orch.get("spec")), update)
        check_config(merged)
        try:
            result = await ctx.writer.patch(
                ORCHESTRATORS,
                bodies.ORCHESTRATOR_NAME,
                patches.guarded(orch, patches.spec_patch(config_to_spec(merged))),
            )
            break
        except Invalid as exc:
            raise ApiError(400, f"Configuration rejected: {exc.reason}", "INVALID_CONFIG") from None
        except Conflict:
            # our copy was behind (the operator writes the object's status): the update
            # is merged again onto the object as it is now, as a later request would be
            if attempt + 1 == CONFIG_ATTEMPTS:
                raise ApiError(
                    409, "The configuration changed meanwhile; retry", "CONFLICT"
                ) from None
            fresh = await ctx.writer.get(ORCHESTRATORS, bodies.ORCHESTRATOR_NAME)
            orch = None if fresh is None else ctx.state.record_orchestrator(fresh)
        except NotFound:
            raise ApiError(
                503, "The orchestrator configuration object is missing", "ORCHESTRATOR_NOT_STARTED"
            ) from None
    recorded = ctx.state.record_orchestrator(result)
    body: dict[str, Any] = {
        "success": True,
        "message": "Configuration updated",
        "config": spec_to_config(recorded.get("spec")),
    }
    port = (update.get("websocket") or {}).get("port")
    if port is not None and port != ctx.ws_port:
        body["message"] += "; websocket.port applies at the next start of the API"
        body["restart_required"] = ["websocket.port"]
    return web.json_response(body)
