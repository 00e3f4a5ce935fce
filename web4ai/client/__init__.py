"""Python clients for the Web4AI REST API: ``AsyncClient`` and the blocking ``Client``."""

from web4ai.client.aio import AsyncClient
from web4ai.client.errors import Web4AIError
from web4ai.client.sync import Client

__all__ = ["AsyncClient", "Client", "Web4AIError"]
