"""The dashboard: static files shipped in the package (``dashboard/``), served from
memory with a strict Content-Security-Policy, validators and gzip. Every URL in the
page is relative, so it works under an ingress path prefix as well as at ``/``."""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from web4ai.api.routing import declare

DASHBOARD_DIR = Path(__file__).resolve().parent / "dashboard"
TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".txt": "text/plain",
}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
# index.html is revalidated on every load; the assets it links carry ?v=<hash> and
# may then be cached for a year; module imports without ?v are revalidated (ETag).
INDEX_CACHE = "no-cache"
VERSIONED_CACHE = "public, max-age=31536000, immutable"
ASSET_CACHE = "no-cache"


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes
    etag: str
    content_type: str


def load_assets(root: Path = DASHBOARD_DIR) -> dict[str, Asset]:
    assets: dict[str, Asset] = {}
    for path in sorted(root.iterdir() if root.is_dir() else ()):
        if not path.is_file() or path.suffix not in TYPES:
            continue
        body = path.read_bytes()
        digest = hashlib.sha256(body).hexdigest()[:16]
        assets[path.name] = Asset(
            body, gzip.compress(body, 9, mtime=0), f'"{digest}"', TYPES[path.suffix]
        )
    version = hashlib.sha256("".join(a.etag for a in assets.values()).encode()).hexdigest()[:12]
    index = assets.get("index.html")
    if index is not None:  # stamp the linked assets with the build's version
        body = index.body.replace(b"?v=dev", f"?v={version}".encode())
        assets["index.html"] = Asset(
            body,
            gzip.compress(body, 9, mtime=0),
            f'"{hashlib.sha256(body).hexdigest()[:16]}"',
            "text/html",
        )
    return assets


ASSETS = load_assets()


def serve(request: web.Request, name: str, cache: str) -> web.Response:
    asset = ASSETS.get(name)
    if asset is None:
        raise web.HTTPNotFound()
    headers = {
        **SECURITY_HEADERS,
        "Cache-Control": cache,
        "ETag": asset.etag,
        "Vary": "Accept-Encoding",
    }
    if asset.etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    body = asset.body
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        body = asset.gzipped
        headers["Content-Encoding"] = "gzip"
    return web.Response(
        body=body,
        headers=headers,
        content_type=asset.content_type,
        charset=None if asset.content_type.startswith("image") else "utf-8",
    )


routes = web.RouteTableDef()


@routes.get("/", name="index")
@declare(public=True)
async def index(request: web.Request) -> web.Response:
    """The dashboard (HTML page)."""
    return serve(request, "index.html", INDEX_CACHE)


@routes.get("/dashboard/{asset}", name="dashboard")
@declare(public=True)
async def asset(request: web.Request) -> web.Response:
    """A static file of the dashboard."""
    name = request.match_info["asset"]
    if name == "index.html":
        raise web.HTTPNotFound()
    versioned = "v" in request.query
    return serve(request, name, VERSIONED_CACHE if versioned else ASSET_CACHE)
