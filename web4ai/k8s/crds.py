"""Installing the shipped CRDs (crds/*.yaml) and waiting until they are Established."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import yaml
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from web4ai.k8s.client import api_client

GROUP = "web4ai.io"
VERSION = "v1alpha1"


def load_crds(directory: Path) -> list[dict[str, Any]]:
    """The CustomResourceDefinitions in ``directory``, in file-name order."""
    crds = []
    for path in sorted(directory.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "CustomResourceDefinition":
                crds.append(doc)
    return crds


async def apply_crds(api: client.ApiClient, crds: list[dict[str, Any]]) -> None:
    """Create or update each CRD (server-side apply would need a field manager per
    caller; a create-or-replace keeps the shipped schema the only truth)."""
    ext = client.ApiextensionsV1Api(api)
    for crd in crds:
        name = crd["metadata"]["name"]
        try:
            await ext.create_custom_resource_definition(crd)
        except ApiException as exc:
            if exc.status != 409:
                raise
            current = await ext.read_custom_resource_definition(name)
            body = {
                **crd,
                "metadata": {
                    **crd["metadata"],
                    "resourceVersion": current.metadata.resource_version,
                },
            }
            await ext.replace_custom_resource_definition(name, body)


async def wait_established(api: client.ApiClient, names: list[str]) -> None:
    """Poll until every named CRD is Established (callers bound it with asyncio.timeout)."""
    ext = client.ApiextensionsV1Api(api)
    pending = set(names)
    while pending:
        for name in list(pending):
            crd = await ext.read_custom_resource_definition(name)
            conditions = (crd.status and crd.status.conditions) or []
            if any(c.type == "Established" and c.status == "True" for c in conditions):
                pending.discard(name)
        if pending:
            await asyncio.sleep(0.1)


async def wait_servable(api: client.ApiClient, crds: list[dict[str, Any]]) -> None:
    """Until a list of each resource succeeds: right after a CRD is (re)established the
    API server answers 429 "storage is (re)initializing" for a moment."""
    co = client.CustomObjectsApi(api)
    for crd in crds:
        group, plural = crd["spec"]["group"], crd["spec"]["names"]["plural"]
        version = next(v["name"] for v in crd["spec"]["versions"] if v.get("storage"))
        while True:
            try:
                await co.list_cluster_custom_object(group, version, plural, limit=1)
                break
            except ApiException as exc:
                if exc.status != 429:
                    raise
                await asyncio.sleep(0.1)


async def install(api: client.ApiClient, directory: Path) -> list[str]:
    crds = load_crds(directory)
    await apply_crds(api, crds)
    names = [c["metadata"]["name"] for c in crds]
    async with asyncio.timeout(60):
        await wait_established(api, names)
        await wait_servable(api, crds)
    return names


async def install_with_kubeconfig(kubeconfig: str, directory: Path) -> list[str]:
    """``install`` with a client of its own (for command-line entry points)."""
    api = await api_client(kubeconfig)
    try:
        return await install(api, directory)
    finally:
        await api.close()
