"""Which Flux ImagePolicy proposed the image under analysis, and which automation committed it.

An ImagePolicy's ``status.latestRef`` (``name``, ``tag``, ``digest``) is the image Flux image
automation writes into the ``$imagepolicy`` markers; an ImageUpdateAutomation's
``status.observedPolicies`` maps the names of the policies (in its namespace) it considered to the
ref it wrote, and ``status.lastPushCommit`` is the commit it pushed last. So when a revision's image
equals a policy's latest ref, that policy proposed it; when an automation observed that policy at
that ref, its last push is the commit that put the image in Git.

Only the cluster is read. Without Flux's image CRDs (a 404) or the right to list them, the result
is empty and the caller records nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from controller.gitops.edits.markers import ImageReferenceError, parse_image
from controller.kube import Kube, KubeError

log = logging.getLogger(__name__)
Obj = dict[str, Any]
IMAGE_API = "image.toolkit.fluxcd.io/v1"


def ref_matches(ref: Mapping[str, Any] | None, image: str) -> bool:
    """Whether an ImageRef (``name``, ``tag``, optional ``digest``) names ``image``."""
    if not ref or not ref.get("name"):
        return False
    try:
        parsed = parse_image(image)
    except ImageReferenceError:
        return False
    if parsed.name != ref["name"]:
        return False
    if parsed.tag is not None and ref.get("tag") and parsed.tag != ref["tag"]:
        return False
    if parsed.digest is not None and ref.get("digest") and parsed.digest != ref["digest"]:
        return False
    return parsed.tag is not None or parsed.digest is not None


@dataclass(frozen=True)
class ImageOrigin:
    """``status.gitops`` fields: the proposing policies and the automation that committed."""

    policies: list[str] = field(default_factory=list)
    automation: Obj | None = None

    def to_status(self) -> Obj:
        if not self.policies:
            return {}
        status: Obj = {"imagePolicies": self.policies}
        if self.automation:
            status["imageAutomation"] = self.automation
        return status

    def describe(self) -> str:
        """``; image from ImagePolicy flux-system:podinfo, committed by ...`` or ``""``."""
        if not self.policies:
            return ""
        text = f"; image from ImagePolicy {', '.join(self.policies)}"
        if self.automation:
            auto = self.automation
            commit = str(auto.get("lastPushCommit") or "")[:12]
            text += f", committed by ImageUpdateAutomation {auto['namespace']}/{auto['name']}"
            text += f" ({commit})" if commit else ""
        return text


def matching_policies(policies: list[Obj], image: str) -> list[str]:
    return sorted(
        f"{p['metadata']['namespace']}:{p['metadata']['name']}"
        for p in policies
        if ref_matches((p.get("status") or {}).get("latestRef"), image)
    )


def committing_automation(automations: list[Obj], policies: list[str], image: str) -> Obj | None:
    """The automation that observed one of ``policies`` at ``image``, most recent push first."""
    found = []
    for auto in automations:
        meta, status = auto["metadata"], auto.get("status") or {}
        observed = status.get("observedPolicies") or {}
        for name, ref in observed.items():
            if f"{meta['namespace']}:{name}" in policies and ref_matches(ref, image):
                found.append(
                    {
                        "namespace": meta["namespace"],
                        "name": meta["name"],
                        "lastPushCommit": str(status.get("lastPushCommit") or ""),
                        "lastPushTime": str(status.get("lastPushTime") or ""),
                    }
                )
                break
    found.sort(key=lambda a: a["lastPushTime"], reverse=True)
    return found[0] if found else None


async def image_origin(kube: Kube, image: str) -> ImageOrigin:
    """Read the cluster's ImagePolicies and ImageUpdateAutomations for ``image``."""
    if not image:
        return ImageOrigin()
    try:
        policies = matching_policies(await kube.list(IMAGE_API, "ImagePolicy", None), image)
        if not policies:
            return ImageOrigin()
        automations = await kube.list(IMAGE_API, "ImageUpdateAutomation", None)
    except KubeError as exc:
        if exc.status not in (403, 404):
            raise
        log.info("Flux image automation is not readable (%s); image origin not recorded", exc.status)
        return ImageOrigin()
    return ImageOrigin(policies, committing_automation(automations, policies, image))
