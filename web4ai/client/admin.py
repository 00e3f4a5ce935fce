"""The clients' calls beyond tasks and nodes: keys, join tokens, joining, the network's
status, configuration and control. Mixed into ``AsyncClient`` and ``Client``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

Request = Callable[..., Awaitable[dict[str, Any]]]


def _fields(**given: Any) -> dict[str, Any]:
    return {k: v for k, v in given.items() if v is not None}


class AsyncAdmin:
    """Needs ``request(method, path, json=None, params=None, headers=None)``."""

    request: Request

    # -- keys (admin) ----------------------------------------------------------------

    async def create_key(
        self,
        role: str,
        node_id: str | None = None,
        capabilities: list[str] | None = None,
        expires_at: str | float | None = None,
        description: str | None = None,
    ) -> dict[str, Any]:
        """Mint a key. The answer's ``api_key`` is the key itself, shown this once;
        ``key`` describes it (``key["id"]`` revokes it)."""
        body = _fields(
            role=role,
            node_id=node_id,
            capabilities=capabilities,
            expires_at=expires_at,
            description=description,
        )
        return await self.request("POST", "/keys", body)

    async def list_keys(self) -> list[dict[str, Any]]:
        return list((await self.request("GET", "/keys"))["keys"])

    async def revoke_key(self, key_id: str) -> dict[str, Any]:
        return await self.request("DELETE", f"/keys/{key_id}")

    # -- join tokens (admin) -----------------------------------------------------------

    async def create_join_token(
        self,
        ttl: str | float | None = None,
        uses: int | None = None,
        capabilities: list[str] | None = None,
        node_prefix: str | None = None,
        description: str | None = None,
    ) -> dict[str, Any]:
        """Make a join token (``ttl`` seconds or text such as ``"24h"``). The answer's
        ``token`` is shown this once."""
        body = _fields(
            ttl=ttl,
            uses=uses,
            capabilities=capabilities,
            node_prefix=node_prefix,
            description=description,
        )
        return await self.request("POST", "/join-tokens", body)

    async def list_join_tokens(self) -> list[dict[str, Any]]:
        return list((await self.request("GET", "/join-tokens"))["join_tokens"])

    async def revoke_join_token(self, token_id: str) -> dict[str, Any]:
        return await self.request("DELETE", f"/join-tokens/{token_id}")

    async def join(
        self, token: str, host: str, node_id: str | None = None, **registration: Any
    ) -> dict[str, Any]:
        """Join with a token: registers the node; the answer's ``api_key`` is its own key
        (``node_id`` the id it got)."""
        body = _fields(host=host, node_id=node_id, **registration)
        return await self.request(
            "POST", "/join", body, headers={"Authorization": f"Bearer {token}"}
        )

    # -- the network ---------------------------------------------------------------------

    async def health(self) -> dict[str, Any]:
        return await self.request("GET", "/health")

    async def metrics(self) -> dict[str, Any]:
        return dict((await self.request("GET", "/metrics"))["metrics"])

    async def performance(self) -> dict[str, Any]:
        """Recommendations and targets (``GET /metrics/performance``)."""
        answer = await self.request("GET", "/metrics/performance")
        return dict(answer["performance_analysis"])

    async def metrics_history(self, window: int = 900) -> list[dict[str, Any]]:
        """The API's recent samples (``GET /metrics/history``)."""
        answer = await self.request("GET", "/metrics/history", params={"window": window})
        return list(answer["samples"])

    async def websocket_info(self) -> dict[str, Any]:
        return dict((await self.request("GET", "/websocket/info"))["websocket"])

    async def delete_node(self, node_id: str) -> dict[str, Any]:
        """Unregister a node (``DELETE /nodes/{id}``)."""
        return await self.request("DELETE", f"/nodes/{node_id}")

    async def status(self) -> dict[str, Any]:
        """The network at a glance (``GET /status``)."""
        return dict((await self.request("GET", "/status"))["data"])

    async def whoami(self) -> dict[str, Any]:
        return await self.request("GET", "/whoami")

    async def get_config(self) -> dict[str, Any]:
        return dict((await self.request("GET", "/config"))["config"])

    async def set_config(self, update: dict[str, Any]) -> dict[str, Any]:
        """Merge ``update`` (``{"section": {"key": value}}``) into the configuration."""
        return await self.request("PUT", "/config", update)

    async def start(self) -> dict[str, Any]:
        """Resume assignments and submissions (``POST /control/start``)."""
        return await self.request("POST", "/control/start")

    async def stop(self) -> dict[str, Any]:
        """Pause: no new assignments; submissions answer 503 (``POST /control/stop``)."""
        return await self.request("POST", "/control/stop")


class SyncAdmin:
    """The same calls, blocking; needs ``_client`` (an ``AsyncAdmin``) and ``_run``."""

    _client: AsyncAdmin
    _run: Callable[[Any], Any]

    def create_key(self, role: str, **fields: Any) -> dict[str, Any]:
        return dict(self._run(self._client.create_key(role, **fields)))

    def list_keys(self) -> list[dict[str, Any]]:
        return list(self._run(self._client.list_keys()))

    def revoke_key(self, key_id: str) -> dict[str, Any]:
        return dict(self._run(self._client.revoke_key(key_id)))

    def create_join_token(self, **fields: Any) -> dict[str, Any]:
        return dict(self._run(self._client.create_join_token(**fields)))

    def list_join_tokens(self) -> list[dict[str, Any]]:
        return list(self._run(self._client.list_join_tokens()))

    def revoke_join_token(self, token_id: str) -> dict[str, Any]:
        return dict(self._run(self._client.revoke_join_token(token_id)))

    def join(self, token: str, host: str, **fields: Any) -> dict[str, Any]:
        return dict(self._run(self._client.join(token, host, **fields)))

    def health(self) -> dict[str, Any]:
        return dict(self._run(self._client.health()))

    def metrics(self) -> dict[str, Any]:
        return dict(self._run(self._client.metrics()))

    def performance(self) -> dict[str, Any]:
        return dict(self._run(self._client.performance()))

    def metrics_history(self, window: int = 900) -> list[dict[str, Any]]:
        return list(self._run(self._client.metrics_history(window)))

    def websocket_info(self) -> dict[str, Any]:
        return dict(self._run(self._client.websocket_info()))

    def delete_node(self, node_id: str) -> dict[str, Any]:
        return dict(self._run(self._client.delete_node(node_id)))

    def status(self) -> dict[str, Any]:
        return dict(self._run(self._client.status()))

    def whoami(self) -> dict[str, Any]:
        return dict(self._run(self._client.whoami()))

    def get_config(self) -> dict[str, Any]:
        return dict(self._run(self._client.get_config()))

    def set_config(self, update: dict[str, Any]) -> dict[str, Any]:
        return dict(self._run(self._client.set_config(update)))

    def start(self) -> dict[str, Any]:
        return dict(self._run(self._client.start()))

    def stop(self) -> dict[str, Any]:
        return dict(self._run(self._client.stop()))
