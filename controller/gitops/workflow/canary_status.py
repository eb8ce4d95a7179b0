"""The write-back's status writes: every one goes through the typed status model."""

from __future__ import annotations

from typing import Any

from controller.api.status import checked_status
from controller.kube import Kube

CANARY_API = "gitcanary.io/v1beta1"
Obj = dict[str, Any]


async def patch_status(kube: Kube, canary: Obj, status: Obj, *, resource_version: str | None = None) -> None:
    """Merge-patch ``status`` into the Canary's status subresource, refused (``StatusShapeError``)
    when the typed model does not describe it; conditional on ``resource_version`` when given."""
    meta = canary["metadata"]
    await kube.merge_patch(
        CANARY_API,
        "Canary",
        meta["namespace"],
        meta["name"],
        checked_status({"status": status}),
        "status",
        resource_version=resource_version,
    )
