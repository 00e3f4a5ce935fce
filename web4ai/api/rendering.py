"""Reads served from bytes rendered once per change of the watch cache.

A read's JSON is rendered (and, for clients that accept it, gzipped) once per
version of the stores it depends on (``ApiContext.memoized``), then every request
until the next change is answered with those bytes: no ``json.dumps`` and no
compression per request.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field

from aiohttp import hdrs, web

COMPRESS_ABOVE = 4096  # bytes: smaller answers go out as they are
GZIP_LEVEL = 6  # zlib's default, as aiohttp's own compression


@dataclass(eq=False)
class Rendered:
    """A JSON answer's bytes, and their gzip made at most once."""

    body: bytes
    _gzipped: bytes | None = field(default=None, repr=False)

    @property
    def gzipped(self) -> bytes:
        if self._gzipped is None:
            self._gzipped = gzip.compress(self.body, GZIP_LEVEL, mtime=0)
        return self._gzipped


def accepts_gzip(request: web.Request) -> bool:
    return "gzip" in request.headers.get(hdrs.ACCEPT_ENCODING, "")


def rendered_response(request: web.Request, rendered: Rendered) -> web.Response:
    """The pre-rendered answer, gzipped when it is large and the client accepts it."""
    if len(rendered.body) > COMPRESS_ABOVE and accepts_gzip(request):
        return web.Response(
            body=rendered.gzipped,
            content_type="application/json",
            headers={hdrs.CONTENT_ENCODING: "gzip", hdrs.VARY: hdrs.ACCEPT_ENCODING},
        )
    return web.Response(body=rendered.body, content_type="application/json")
