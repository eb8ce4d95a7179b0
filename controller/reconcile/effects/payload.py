"""The webhook payload of a tick: the Canary, the revision under analysis and its Flux source."""

from __future__ import annotations

from typing import Any

from controller.api import Canary
from controller.hooks.webhooks import WebhookPayload

Obj = dict[str, Any]


def flux_source(status: Obj | None) -> dict[str, str]:
    """The Flux revision under analysis and the commit that introduced it, from ``status.gitops``."""
    gitops = (status or {}).get("gitops") or {}
    revision = str((gitops.get("source") or {}).get("revision") or "")
    return {"sourceRevision": revision, "introducedBy": str(gitops.get("introducedBy") or "")}


def webhook_payload(canary: Canary, status: Obj | None, revision: str, phase: str) -> WebhookPayload:
    return WebhookPayload(
        name=canary.metadata.name or "",
        namespace=canary.metadata.namespace or "",
        phase=phase,
        checksum=revision,
        source=flux_source(status),
    )
