"""How gitcanary marks the objects it generates from a Canary: owner, manager, Flux's opt-out.

Every adapter that writes an object for a Canary (the primary workload and its configs, the
primary's autoscaler, mesh and ingress routes) marks it the same way, so this module sits
below all of them (see docs/architecture.md):

- a controller ``ownerReference`` to the Canary (``owner_reference``), so the object is
  garbage-collected with it;
- ``app.kubernetes.io/managed-by: gitcanary`` (``MANAGED_BY``);
- ``kustomize.toolkit.fluxcd.io/reconcile: disabled`` (``FLUX_RECONCILE_DISABLED``), and never
  a label or annotation under one of Flux's ownership prefixes (``FLUX_OWNER_PREFIXES``), so
  Flux neither prunes nor fights the object.

An object that existed before the Canary is never given the ownerReference (``owned_by`` tells
which is which); its original state is recorded under ``ORIGINAL_CONFIGURATION`` instead.
"""

from __future__ import annotations

import json
from typing import Any

Obj = dict[str, Any]

FLUX_OWNER_PREFIXES = ("kustomize.toolkit.fluxcd.io/", "helm.toolkit.fluxcd.io/")
FLUX_RECONCILE_DISABLED = {"kustomize.toolkit.fluxcd.io/reconcile": "disabled"}
# On the generated Services too, as Flagger's router.filterMetadata writes: a HelmRelease whose chart
# renders the apex Service does not revert the selector gitcanary gives it.
HELM_DRIFT_DETECTION_DISABLED = {"helm.toolkit.fluxcd.io/driftDetection": "disabled"}
MANAGED_BY = {"app.kubernetes.io/managed-by": "gitcanary"}
# On an object gitcanary took over but did not create: what it was before, so that
# revertOnDeletion can put it back (the analogue of Flagger's original-configuration annotation).
ORIGINAL_CONFIGURATION = "gitcanary.io/original-configuration"


def owned_by(obj: Obj, uid: str) -> bool:
    """Whether ``obj`` carries an ownerReference to the object with ``uid`` (the Canary)."""
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return bool(uid) and any(ref.get("uid") == uid for ref in refs)


def owner_reference(canary: Obj) -> Obj:
    """The controller ownerReference of an object generated for ``canary``."""
    meta = canary["metadata"]
    return {
        "apiVersion": canary["apiVersion"],
        "kind": canary["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def recorded_original(obj: Obj) -> Obj | None:
    """What ``ORIGINAL_CONFIGURATION`` on ``obj`` recorded (None when absent or unreadable)."""
    raw = ((obj.get("metadata") or {}).get("annotations") or {}).get(ORIGINAL_CONFIGURATION)
    if not raw:
        return None
    try:
        recorded = json.loads(raw)
    except ValueError:
        return None
    return recorded if isinstance(recorded, dict) else None
