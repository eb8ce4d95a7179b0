"""Which container image a write-back is about.

A pod can run several containers; image automation updates one or more of them (the app, a
sidecar) in one commit. A change is the target's image compared with what the primary ran before
this revision (``status.engine.stableImages``, recorded while the primary was stable), or with the
primary itself when nothing was recorded yet. A rollback reverts **every changed image**; a
promotion pins the image of the **first container whose image changed** (``$gitcanary`` markers
name the Canary, not a container). When no image changed (a ConfigMap-only revision), it is the first container's,
and the target and stable images are equal, which tells the write-back that there is nothing to
revert or quarantine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]


def container_images(workload: Obj | None) -> dict[str, str]:
    """``{container name: image}`` of the pod template's containers, in order."""
    spec = ((workload or {}).get("spec") or {}).get("template", {}).get("spec") or {}
    return {str(c.get("name", "")): str(c.get("image", "")) for c in spec.get("containers") or []}


@dataclass(frozen=True)
class AnalysedImage:
    """One container's image in the target, in the primary, and before this revision."""

    container: str
    target: str
    primary: str
    stable: str

    @property
    def changed(self) -> bool:
        return self.target != self.stable


def changed_images(target: Obj | None, primary: Obj | None, stable: Mapping[str, str]) -> list[AnalysedImage]:
    """Every container whose target image differs from its stable image, in pod order."""
    in_target, in_primary = container_images(target), container_images(primary)
    baseline = dict(stable) or in_primary
    return [
        AnalysedImage(name, image, in_primary.get(name, ""), baseline[name])
        for name, image in in_target.items()
        if name in baseline and baseline[name] != image
    ]


def analysed_image(target: Obj | None, primary: Obj | None, stable: Mapping[str, str]) -> AnalysedImage:
    """The first container whose target image differs from its stable image (see module doc)."""
    changed = changed_images(target, primary, stable)
    if changed:
        return changed[0]
    in_target, in_primary = container_images(target), container_images(primary)
    if not in_target:
        return AnalysedImage("", "", "", "")
    name, image = next(iter(in_target.items()))
    baseline = dict(stable) or in_primary
    return AnalysedImage(name, image, in_primary.get(name, ""), baseline.get(name, image))


def stable_images_of(status: Obj | None, workload: Obj | None) -> dict[str, str]:
    """``status.engine.stableImages``; a status written before it existed has only
    ``stableImage``, the first container's (named after ``workload``'s first container)."""
    engine = (status or {}).get("engine") or {}
    images = engine.get("stableImages")
    if isinstance(images, dict) and images:
        return {str(k): str(v) for k, v in images.items()}
    legacy, names = engine.get("stableImage"), list(container_images(workload))
    return {names[0]: str(legacy)} if legacy and names else {}
