"""Where a revision came from, and whether Flux and the autoscaler disagree about replicas.

``correlate`` maps a target to the Kustomization that applied it (Flux's labels), that
Kustomization's GitRepository, the revision it last applied, and the Flux ImagePolicy and
ImageUpdateAutomation that proposed and committed the changed image; the result is stored in
``status.gitops`` (``source``, ``kustomization``, ``introducedBy``, ``imagePolicies``,
``imageAutomation``) when a new revision is detected,
so Events, write-back trailers and ``kubectl get -o wide`` can say which commit is under analysis.

``replicas_conflict`` reports a target manifest that sets ``spec.replicas`` (applied by Flux's
kustomize-controller) while an autoscaler manages it: Flux would scale the canary back up after
every scale-to-zero, which Flagger users know as a fight between Flux and the HPA.
"""

from __future__ import annotations

from typing import Any

from controller.flux import SourceNotFound, kustomization_of, resolve_source, sha_of_revision
from controller.flux_images import image_origin
from controller.kube import Kube, KubeError

Obj = dict[str, Any]

FLUX_MANAGER = "kustomize-controller"


async def correlate(kube: Kube, canary: Obj, target: Obj, changed_image: str = "") -> Obj | None:
    """``status.gitops`` fields for the target's Flux source, or None when Flux did not apply it.

    ``changed_image`` (the image this revision changed, if any) is matched against Flux's
    ImagePolicies and ImageUpdateAutomations: ``imagePolicies`` and ``imageAutomation``."""
    if not kustomization_of(target):
        return None
    try:
        source = await resolve_source(kube, canary, target)
    except (SourceNotFound, KubeError):
        return None
    fields = source.to_status()
    # kustomize-controller applies first and records lastAppliedRevision after: a Canary woken
    # by the apply may read the previous revision. The source's artifact is already the one
    # being applied, so when the two differ, the artifact's revision is the one under analysis.
    applying = source.artifact_revision or source.revision
    if applying:
        fields["source"]["revision"] = applying
        fields["introducedBy"] = sha_of_revision(applying)
    fields.update((await image_origin(kube, changed_image)).to_status())
    return fields


def replicas_conflict(canary: Obj, target: Obj) -> str | None:
    if not canary["spec"].get("autoscalerRef"):
        return None
    for entry in target["metadata"].get("managedFields") or []:
        spec = (entry.get("fieldsV1") or {}).get("f:spec") or {}
        if entry.get("manager") == FLUX_MANAGER and "f:replicas" in spec:
            return (
                f"{target['kind']} {target['metadata']['name']} sets spec.replicas in Git while "
                f"{canary['spec']['autoscalerRef'].get('kind')} {canary['spec']['autoscalerRef'].get('name')} "
                "manages replicas: remove replicas from the manifest, or Flux will scale the canary back up"
            )
    return None
