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
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]

FLUX_OWNER_PREFIXES = ("kustomize.toolkit.fluxcd.io/", "helm.toolkit.fluxcd.io/")
FLUX_RECONCILE_DISABLED = {"kustomize.toolkit.fluxcd.io/reconcile": "disabled"}
# On the generated Services too, as Flagger's router.filterMetadata writes: a HelmRelease whose chart
# renders the apex Service does not revert the selector gitcanary gives it.
HELM_DRIFT_DETECTION_DISABLED = {"helm.toolkit.fluxcd.io/driftDetection": "disabled"}
MANAGED_BY = {"app.kubernetes.io/managed-by": "gitcanary"}


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
