"""Where a request's API key comes from: ``Authorization: Bearer``, or, on the
WebSocket route, a ``Sec-WebSocket-Protocol`` entry, because a browser's WebSocket
cannot set headers (the Kubernetes API server's ``base64url.bearer.authorization.k8s.io.``
convention). Keys in the query string are never accepted."""

from __future__ import annotations

import base64
import binascii

from aiohttp import web

WS_AUTH_PREFIX = "base64url.bearer.authorization.web4ai.io."
WS_SUBPROTOCOL = "web4ai.v1"  # the real subprotocol, the only one echoed back


def bearer_key(request: web.Request, route: str) -> str | None:
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return key.strip()
    if route != "ws":
        return None
    for proto in request.headers.get("Sec-WebSocket-Protocol", "").split(","):
        proto = proto.strip()
        if proto.startswith(WS_AUTH_PREFIX):
            raw = proto[len(WS_AUTH_PREFIX) :]
            try:
                return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
            except (ValueError, binascii.Error, UnicodeDecodeError):
                return None
    return None
