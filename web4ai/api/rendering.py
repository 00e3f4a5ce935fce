"""Reads served from bytes rendered once per change of the watch cache.

A read's JSON is rendered (and, for clients that accept it, gzipped) once per
version of the stores it depends on (``ApiContext.memoized``), then every request
until the next change is answered with those bytes: no ``json.dumps`` and no
compression per request.
"""

from __future__ import annotations

import gzip
import struct
import zlib
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


def _deflated(part: bytes) -> bytes:
    """``part`` as raw deflate blocks that stand alone (no reference outside them) and
    end byte-aligned, not final: such runs can be put one after the other."""
    c = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
    return c.compress(part) + c.flush(zlib.Z_FULL_FLUSH)


def _stored(data: bytes, final: bool) -> bytes:
    """``data`` as stored (uncompressed) deflate blocks, after a byte-aligned run."""
    out = []
    for i in range(0, max(len(data), 1), 0xFFFF):
        chunk = data[i : i + 0xFFFF]
        last = final and i + 0xFFFF >= len(data)
        out.append(bytes((1 if last else 0,)))
        out.append(struct.pack("<HH", len(chunk), 0xFFFF ^ len(chunk)))
        out.append(chunk)
    return b"".join(out)


@dataclass(eq=False)
class Template:
    """A JSON answer made of parts rendered once (``statics``) around small values
    filled per request (a clock, counters). Its gzip is spliced the same way: the
    static parts are compressed once, the values go in as stored blocks, so a
    request costs a CRC and no compression."""

    statics: tuple[bytes, ...]  # one more than the values
    _deflated: tuple[bytes, ...] | None = field(default=None, repr=False)

    def render(self, values: tuple[bytes, ...]) -> bytes:
        out = [self.statics[0]]
        for value, static in zip(values, self.statics[1:], strict=True):
            out += (value, static)
        return b"".join(out)

    def gzipped(self, values: tuple[bytes, ...], body: bytes | None = None) -> bytes:
        """The gzip of ``render(values)`` (pass ``body`` when it is already made)."""
        if self._deflated is None:
            self._deflated = tuple(_deflated(s) for s in self.statics)
        whole = self.render(values) if body is None else body
        out = [GZIP_HEADER, self._deflated[0]]
        for value, static in zip(values, self._deflated[1:], strict=True):
            out += (_stored(value, False), static)
        out.append(_stored(b"", True))
        out.append(struct.pack("<II", zlib.crc32(whole), len(whole) & 0xFFFFFFFF))
        return b"".join(out)


# gzip member header: deflate, no flags, no mtime, no extra flags, unknown OS
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"


def template_response(
    request: web.Request, template: Template, values: tuple[bytes, ...]
) -> web.Response:
    """A templated answer, gzipped (spliced) when it is large and the client accepts it."""
    body = template.render(values)
    if len(body) > COMPRESS_ABOVE and accepts_gzip(request):
        return web.Response(
            body=template.gzipped(values, body),
            content_type="application/json",
            headers={hdrs.CONTENT_ENCODING: "gzip", hdrs.VARY: hdrs.ACCEPT_ENCODING},
        )
    return web.Response(body=body, content_type="application/json")
