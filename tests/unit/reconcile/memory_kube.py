"""A small in-memory stand-in for ``controller.kube.Kube`` (get, create, merge_patch).

Enough of the API server's contract for the reconcile units: objects by (kind, namespace,
name); Events are collected in order; every merge patch is recorded in order, and a patch that
carries ``metadata.resourceVersion`` fails with 409 unless it names the current version, as the
API server does. Every write moves the object's resourceVersion forward.
"""

from __future__ import annotations

import copy
import itertools
from typing import Any

from controller.kube import KubeError

Obj = dict[str, Any]


def _merge(into: Obj, patch: Obj) -> None:
    for key, value in patch.items():
        if value is None:
            into.pop(key, None)
        elif isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = copy.deepcopy(value)


class MemoryKube:
    def __init__(self, *objects: Obj) -> None:
        self._versions = itertools.count(100)
        self.objects: dict[tuple[str, str | None, str], Obj] = {}
        for obj in objects:
            stored = copy.deepcopy(obj)
            stored["metadata"]["resourceVersion"] = str(next(self._versions))
            self.objects[(obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"])] = stored
        self.events: list[Obj] = []
        self.patches: list[tuple[str, str, Obj]] = []
        """(kind/name, subresource, patch) of every merge patch, in order."""

    async def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> Obj | None:
        found = self.objects.get((kind, namespace, name))
        return copy.deepcopy(found) if found is not None else None

    async def create(self, obj: Obj) -> Obj:
        self.events.append(obj)
        return obj

    async def merge_patch(
        self,
        api_version: str,
        kind: str,
        namespace: str | None,
        name: str,
        patch: Obj,
        subresource: str = "",
        *,
        resource_version: str | None = None,
    ) -> Obj:
        if resource_version:
            patch = {
                **patch,
                "metadata": {**(patch.get("metadata") or {}), "resourceVersion": resource_version},
            }
        self.patches.append((f"{kind}/{name}", subresource, copy.deepcopy(patch)))
        live = self.objects[(kind, namespace, name)]
        wanted = (patch.get("metadata") or {}).get("resourceVersion")
        if wanted and wanted != live["metadata"]["resourceVersion"]:
            raise KubeError("the object has been modified", 409, "Conflict")
        body = {k: v for k, v in patch.items() if k != "metadata"}
        meta = {k: v for k, v in (patch.get("metadata") or {}).items() if k != "resourceVersion"}
        if subresource == "status":
            body = {"status": body.get("status") or {}}
            meta = {}
        _merge(live, {**body, **({"metadata": meta} if meta else {})})
        live["metadata"]["resourceVersion"] = str(next(self._versions))
        return copy.deepcopy(live)

    def bump(self, kind: str, namespace: str, name: str, patch: Obj) -> None:
        """Another writer changes the object (no precondition)."""
        live = self.objects[(kind, namespace, name)]
        _merge(live, patch)
        live["metadata"]["resourceVersion"] = str(next(self._versions))

    def reasons(self) -> list[str]:
        return [e["reason"] for e in self.events]
