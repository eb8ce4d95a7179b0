"""The ``kubernetes`` provider: plain ClusterIP Services, no traffic splitting; and the hand-back
of the Services on ``revertOnDeletion``, which every provider shares (as Flagger's finalizer
calls its Kubernetes router for every mesh).

Traffic cannot be split, so the engine forces blue/green: the apex Service always selects the
primary pods, and promotion switches traffic by copying the canary's template to the primary.
``set_routes`` therefore only accepts the all-primary split; anything else is an
``UnsupportedFeature`` rather than a silent no-op.

``finalize`` (called once the target is scaled up and Ready again) gives the Services back:

- a Service gitcanary took over (no ownerReference to the Canary, its original state recorded in
  ``gitcanary.io/original-configuration``) gets its recorded selector, ports and Flux annotations
  back and loses the record; one without a record that selects the primary pods (taken over by an
  older gitcanary, or by Flagger) selects the target again, by its
  ``kubectl.kubernetes.io/last-applied-configuration`` selector when there is one, as Flagger does;
- the apex Service gitcanary created is released: it selects the target's pods and loses its
  ownerReference, so traffic to ``<svc>`` keeps flowing after the Canary and its generated
  objects are gone (Flagger deletes it with the Canary);
- the -primary and -canary Services gitcanary created are left to the garbage collector.
"""

from __future__ import annotations

import json
from typing import Any

from controller.api.parsed import parsed_or_none
from controller.kube import Kube, KubeError
from controller.ownership import ORIGINAL_CONFIGURATION, owned_by, recorded_original
from controller.routers.base import RouterError, Routes, UnsupportedFeature

Obj = dict[str, Any]

PRIMARY_SUFFIX = "-primary"
KUBECTL_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def service_names(canary: Obj) -> tuple[str, str, str]:
    """The apex, -primary and -canary Service names (``spec.service.name``, else the target's)."""
    parsed = parsed_or_none(canary)
    if parsed is None:
        # The deletion finalizer hands the Services of an invalid Canary back too: read the
        # names as written, as it always did.
        spec = canary["spec"]
        apex = str((spec.get("service") or {}).get("name") or spec["targetRef"]["name"])
    else:
        service = parsed.spec.service
        apex = (service.name if service else None) or parsed.spec.target_ref.name
    return apex, f"{apex}-primary", f"{apex}-canary"


def target_selector(selector: dict[str, str]) -> dict[str, str]:
    """The selector of the target's pods, from one of the primary's (``<value>-primary``)."""
    return {key: str(value).removesuffix(PRIMARY_SUFFIX) for key, value in selector.items()}


def _replace_selector(live: Obj, wanted: dict[str, str]) -> dict[str, str | None]:
    """A merge patch for ``spec.selector`` that leaves exactly ``wanted`` (maps merge)."""
    current = live["spec"].get("selector") or {}
    return {**{key: None for key in current if key not in wanted}, **wanted}


def restore_patch(live: Obj, original: Obj) -> Obj:
    """The merge patch that puts a taken-over Service back as it was recorded."""
    spec = original.get("spec") or {}
    annotations: dict[str, str | None] = {
        key: value for key, value in (original.get("annotations") or {}).items()
    }
    annotations[ORIGINAL_CONFIGURATION] = None
    return {
        "metadata": {"annotations": annotations},
        "spec": {
            "selector": _replace_selector(live, spec.get("selector") or {}),
            "ports": spec.get("ports") or [],
        },
    }


def release_patch(live: Obj, uid: str) -> Obj:
    """The merge patch that hands the apex Service gitcanary created to the target, for good."""
    refs = [ref for ref in live["metadata"].get("ownerReferences") or [] if ref.get("uid") != uid]
    selector = live["spec"].get("selector") or {}
    return {
        "metadata": {"ownerReferences": refs},
        "spec": {"selector": _replace_selector(live, target_selector(selector))},
    }


def last_applied_selector(live: Obj) -> dict[str, str] | None:
    raw = (live["metadata"].get("annotations") or {}).get(KUBECTL_LAST_APPLIED)
    if not raw:
        return None
    try:
        selector = json.loads(raw).get("spec", {}).get("selector")
    except (ValueError, AttributeError):
        return None
    return selector if isinstance(selector, dict) and selector else None


def hand_back_patch(live: Obj, uid: str, apex: bool) -> Obj | None:
    """What ``finalize`` writes to one live Service (None: nothing)."""
    original = recorded_original(live)
    if owned_by(live, uid):
        return release_patch(live, uid) if apex else None
    if original is not None:
        return restore_patch(live, original)
    selector = live["spec"].get("selector") or {}
    if not any(str(value).endswith(PRIMARY_SUFFIX) for value in selector.values()):
        return None  # never pointed at the primary: not ours to touch
    wanted = last_applied_selector(live) or target_selector(selector)
    return {"spec": {"selector": _replace_selector(live, wanted)}}


class KubernetesRouter:
    def __init__(self, kube: Kube, canary: Obj) -> None:
        self.kube = kube
        self.canary = canary

    async def reconcile(self) -> None:
        """Nothing beyond the Services, which the workload lifecycle owns."""
        return None

    async def set_routes(self, primary_weight: int, canary_weight: int, mirrored: bool) -> None:
        if canary_weight != 0 or mirrored:
            raise UnsupportedFeature(
                "the kubernetes provider cannot split or mirror traffic; it runs blue/green only"
            )

    async def get_routes(self) -> Routes:
        return Routes(100, 0, False)

    async def finalize(self) -> None:
        """Give the Services back to the target (see the module docstring)."""
        namespace = self.canary["metadata"]["namespace"]
        uid = str(self.canary["metadata"].get("uid", ""))
        apex = service_names(self.canary)[0]
        for name in service_names(self.canary):
            try:
                live = await self.kube.get("v1", "Service", namespace, name)
                patch = None if live is None else hand_back_patch(live, uid, apex=name == apex)
                if patch is not None:
                    await self.kube.merge_patch("v1", "Service", namespace, name, patch)
            except KubeError as exc:
                raise RouterError(f"Service {namespace}/{name}: {exc}") from exc
