"""The WebSocket endpoints: ``/api/v1/ws`` on the API's port, the websockets server
on ``websocket.port`` (9001), and ``/api/v1/websocket/info``."""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import Sequence

from aiohttp import WSCloseCode, WSMsgType, web
from multidict import CIMultiDict
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from web4ai.api.access import authenticate
from web4ai.api.auth import ANONYMOUS, PRINCIPAL_KEY, SUBPROTOCOL, Principal, split_protocols
from web4ai.api.context import CONTEXT, ApiContext
from web4ai.api.errors import ApiError, envelope
from web4ai.api.livefeed import initial_status
from web4ai.api.routing import NodeAccess, declare
from web4ai.core.schemas import responses

routes = web.RouteTableDef()


@routes.get("/api/v1/websocket/info", name="websocket_info")
@declare(response=responses.WebsocketAnswer)
async def websocket_info(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    settings = ctx.state.settings()
    configured = settings.websocket_port
    return web.json_response(
        {
            "success": True,
            "websocket": {
                "enabled": ctx.state.settings().websocket_enabled,
                "url": ctx.websocket_url,
                "urls": [
                    ctx.websocket_url,
                    str(request.url.with_path("/api/v1/ws")).replace("http", "ws", 1),
                ],
                "path": "/api/v1/ws",
                "port": ctx.ws_port,
                "configured_port": configured,
                "restart_required": configured != ctx.ws_port,
                "connected_clients": ctx.hub.connected,
                "max_connections": settings.max_connections,
            },
        }
    )


def without_bearer_protocol(request: web.Request) -> web.Request:
    """The request with the key's subprotocol entry removed, so that nothing
    downstream (aiohttp's negotiation, its warnings) sees or logs the key."""
    header = request.headers.get("Sec-WebSocket-Protocol")
    if header is None:
        return request
    _, real = split_protocols(header)
    headers = CIMultiDict(request.headers)
    del headers["Sec-WebSocket-Protocol"]
    if real:
        headers["Sec-WebSocket-Protocol"] = ", ".join(real)
    return request.clone(headers=headers)


@routes.get("/api/v1/ws", name="ws")
@declare(node=NodeAccess.ANY)  # the feed is filtered to its own node and tasks
async def websocket(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CONTEXT]
    if not ctx.state.settings().websocket_enabled:
        raise ApiError(
            503,
            "WebSocket updates are disabled; PUT /api/v1/config websocket.enabled: true",
            "WEBSOCKET_DISABLED",
        )
    if ctx.hub.full():
        raise ApiError(
            503,
            "Too many WebSocket connections",
            "TOO_MANY_CONNECTIONS",
            max_connections=ctx.hub.max_connections(),
        )
    # Browsers authenticate with a subprotocol entry (see web4ai.api.access); only the
    # real subprotocol is echoed back, and the key's entry never reaches aiohttp.
    principal: Principal = request.get(PRINCIPAL_KEY, ANONYMOUS)
    ws = web.WebSocketResponse(heartbeat=30, protocols=(SUBPROTOCOL,), max_msg_size=64 * 1024)
    await ws.prepare(without_bearer_protocol(request))

    async def send(frame: bytes) -> None:
        await ws.send_frame(frame, WSMsgType.TEXT)  # the hub's bytes, as a text frame

    async def close(code: int, reason: str) -> None:
        await ws.close(code=code, message=reason.encode())

    async def receive() -> bool:
        msg = await ws.receive()
        return msg.type not in (
            WSMsgType.CLOSE,
            WSMsgType.CLOSED,
            WSMsgType.CLOSING,
            WSMsgType.ERROR,
        )

    await ctx.hub.serve(
        send, close, initial_status(ctx, principal), receive, principal, transport="same_origin"
    )
    if not ws.closed:
        await ws.close(code=WSCloseCode.GOING_AWAY)
    return ws


def handshake_refusal(connection: ServerConnection, err: ApiError) -> Response:
    """A refused handshake on 9001: the status and the documented error envelope."""
    response = connection.respond(err.status, json.dumps(envelope(err)) + "\n")
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = "application/json"
    for name, value in err.headers.items():
        response.headers[name] = value
    return response


async def websocket_9001(ctx: ApiContext, host: str, port: int) -> asyncio.AbstractServer:
    principals: weakref.WeakKeyDictionary[ServerConnection, Principal] = weakref.WeakKeyDictionary()

    async def admit(connection: ServerConnection, request: Request) -> Response | None:
        """Authenticate like REST (header or bearer subprotocol), then the connection
        limit: unauthenticated clients never take a slot."""
        if not ctx.state.settings().websocket_enabled:
            return connection.respond(503, "WebSocket updates are disabled (websocket.enabled)\n")
        protocols = ",".join(request.headers.get_all("Sec-WebSocket-Protocol"))
        remote = connection.remote_address[0] if connection.remote_address else None
        try:
            principal = await authenticate(
                ctx, request.headers.get("Authorization"), str(remote), protocols
            )
        except ApiError as err:
            return handshake_refusal(connection, err)
        if ctx.hub.full():
            return handshake_refusal(
                connection,
                ApiError(
                    503,
                    "Too many WebSocket connections",
                    "TOO_MANY_CONNECTIONS",
                    max_connections=ctx.hub.max_connections(),
                ),
            )
        principals[connection] = principal
        return None

    def choose(connection: ServerConnection, offered: Sequence[Subprotocol]) -> Subprotocol | None:
        """Echo only the real subprotocol, never the key's entry; no subprotocol is
        fine for clients that send the Authorization header."""
        return Subprotocol(SUBPROTOCOL) if SUBPROTOCOL in offered else None

    async def handler(connection: ServerConnection) -> None:
        principal = principals.pop(connection, ANONYMOUS)

        async def send(frame: bytes) -> None:
            await connection.send(frame, text=True)  # the hub's bytes, as a text frame

        async def close(code: int, reason: str) -> None:
            await connection.close(code, reason)

        async def receive() -> bool:
            try:
                await connection.recv()
                return True
            except ConnectionClosed:
                return False

        await ctx.hub.serve(send, close, initial_status(ctx, principal), receive, principal)

    server = await serve(
        handler,
        host,
        port,
        process_request=admit,
        select_subprotocol=choose,
        max_size=64 * 1024,
        ping_interval=30,
        # no permessage-deflate: it compresses each message once per client (and keeps
        # a zlib context per client), which undoes serializing it once for all
        compression=None,
    )
    return server  # type: ignore[return-value]
