"""The API's base URL from what a person types: the server root or the API base, with
or without a trailing slash (or a scheme). Pure: no I/O."""

from __future__ import annotations

API_PATH = "/api/v1"


def api_base(url: str) -> str:
    """``http://host:9000``, ``http://host:9000/``, ``host:9000`` and
    ``http://host:9000/api/v1/`` all give ``http://host:9000/api/v1``; a path prefix
    (an Ingress under ``/web4ai``) is kept: ``http://h/web4ai`` -> ``http://h/web4ai/api/v1``."""
    text = url.strip()
    if "://" not in text:
        text = "http://" + text
    base = text.rstrip("/")
    if base.endswith(API_PATH):
        return base
    if base.endswith("/api"):
        return base + "/v1"
    return base + API_PATH
