"""coordination.k8s.io Leases, read and written as plain dicts (the leader Lease, and
the nodes' heartbeat Leases). Errors are the typed ones of ``web4ai.k8s.errors``."""

from __future__ import annotations

from dataclasses import dataclass

from kubernetes_asyncio import client

from web4ai.core.crs import Body
from web4ai.k8s.errors import NotFound, translated

LEASE_GROUP, LEASE_VERSION, LEASES = "coordination.k8s.io", "v1", "leases"


@dataclass
class Leases:
    api: client.ApiClient
    namespace: str

    def _objects(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)

    async def get(self, name: str) -> Body | None:
        """The Lease as the API server has it now; None when there is none."""
        try:
            with translated():
                body: Body = await self._objects().get_namespaced_custom_object(
                    LEASE_GROUP, LEASE_VERSION, self.namespace, LEASES, name
                )
        except NotFound:
            return None
        return body

    async def create(self, body: Body) -> Body:
        """Create a Lease; raises ``Conflict`` when one of that name exists."""
        with translated():
            created: Body = await self._objects().create_namespaced_custom_object(
                LEASE_GROUP, LEASE_VERSION, self.namespace, LEASES, body
            )
        return created

    async def replace(self, name: str, body: Body) -> Body:
        """Replace a Lease, guarded by its resourceVersion; raises ``Conflict`` when it
        changed meanwhile."""
        with translated():
            result: Body = await self._objects().replace_namespaced_custom_object(
                LEASE_GROUP, LEASE_VERSION, self.namespace, LEASES, name, body
            )
        return result
