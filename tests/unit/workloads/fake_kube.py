"""An in-memory stand-in for ``controller.kube.Kube`` for the Service lifecycle units.

Objects are kept by (kind, namespace, name). ``apply`` approximates server-side apply: a new
object is created as given, an existing one gets the applied maps merged in and lists replaced
(enough for the Services, whose port list the lifecycle replaces by merge patch anyway).
``merge_patch`` is RFC 7386 (``None`` removes a key). Every write is recorded in ``writes``.
"""

from __future__ import annotations

import copy
from typing import Any

Obj = dict[str, Any]


def merge(into: Obj, patch: Obj) -> None:
    for key, value in patch.items():
        if value is None:
            into.pop(key, None)
        elif isinstance(value, dict) and isinstance(into.get(key), dict):
            merge(into[key], value)
        else:
            into[key] = copy.deepcopy(value)


class FakeKube:
    def __init__(self, *objects: Obj) -> None:
        self.objects: dict[tuple[str, str | None, str], Obj] = {}
        self.writes: list[tuple[str, str, Obj]] = []
        for obj in objects:
            self.objects[self.key(obj)] = copy.deepcopy(obj)

    @staticmethod
    def key(obj: Obj) -> tuple[str, str | None, str]:
        return obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"]

    def stored(self, kind: str, namespace: str, name: str) -> Obj:
        return self.objects[(kind, namespace, name)]

    async def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> Obj | None:
        found = self.objects.get((kind, namespace, name))
        return copy.deepcopy(found) if found is not None else None

    async def apply(self, obj: Obj, force: bool = True) -> Obj:
        self.writes.append(("apply", f"{obj['kind']}/{obj['metadata']['name']}", copy.deepcopy(obj)))
        live = self.objects.get(self.key(obj))
        if live is None:
            self.objects[self.key(obj)] = copy.deepcopy(obj)
        else:
            merge(live, obj)
        return copy.deepcopy(self.objects[self.key(obj)])

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
        self.writes.append(("merge_patch", f"{kind}/{name}", copy.deepcopy(patch)))
        live = self.objects[(kind, namespace, name)]
        merge(live, patch)
        return copy.deepcopy(live)

    async def delete(self, api_version: str, kind: str, namespace: str | None, name: str) -> bool:
        return self.objects.pop((kind, namespace, name), None) is not None
