"""Where a revision came from, and whether Flux and the autoscaler disagree about replicas.

``correlate`` maps a target to the Kustomization that applied it (Flux's labels), that
Kustomization's GitRepository, the revision it last applied, and the Flux ImagePolicy and
ImageUpdateAutomation that proposed and committed the changed image; the result is stored in
``status.gitops`` (``source``, ``kustomization``, ``introducedBy``, ``imagePolicies``,
``imageAutomation``) when a new revision is detected,
so Events, write-back trailers and ``kubectl get -o wide`` can say which commit is under analysis.

``correlate_source`` adds the tenancy verdict (:mod:`controller.tenancy`): a source the rules
refuse (forged Flux labels, a GitRepository in another namespace that does not admit the Canary,
a bad branch, path or URL) sets the ``SourceAllowed`` condition to False with reason
``SourceRefused`` and records a Warning Event once per distinct message; every later write-back
is refused the same way, before any credential is read, so no commit is ever made.

A target installed by a Flux HelmRelease is correlated through it (:mod:`controller.flux.helm`).
When its chart and values are in no GitRepository (an OCIRepository, Bucket or HelmRepository
chart), the ``WriteBack`` condition is False with reason ``UnsupportedSource`` naming the source
kind, with a Warning Event once per distinct message; the analysis runs as usual, and
:func:`write_back_unsupported` tells the runner not to queue intents that could never be written.

``replicas_conflict`` reports a target manifest that sets ``spec.replicas`` (applied by Flux's
kustomize-controller) while an autoscaler manages it: Flux would scale the canary back up after
every scale-to-zero, which Flagger users know as a fight between Flux and the HPA.
"""

from __future__ import annotations

from typing import Any

from controller.api.conditions import set_condition, without_conditions
from controller.api.parsed import parsed_canary
from controller.events import record_event
from controller.flux.correlation import (
    SourceNotFound,
    SourceRefused,
    WriteBackUnsupported,
    applied_by_flux,
    resolve_source,
    sha_of_revision,
)
from controller.flux.images import image_origin
from controller.kube import Kube, KubeError

Obj = dict[str, Any]

FLUX_MANAGER = "kustomize-controller"
SOURCE_ALLOWED = "SourceAllowed"
SOURCE_REFUSED = "SourceRefused"
WRITE_BACK = "WriteBack"
UNSUPPORTED_SOURCE = "UnsupportedSource"


async def correlate(kube: Kube, canary: Obj, target: Obj, changed_image: str = "") -> Obj | None:
    """``status.gitops`` fields for the target's Flux source, or None when Flux did not apply it.

    ``changed_image`` (the image this revision changed, if any) is matched against Flux's
    ImagePolicies and ImageUpdateAutomations: ``imagePolicies`` and ``imageAutomation``.
    Raises SourceRefused when the tenancy rules refuse the source (an explicit
    ``spec.gitops.sourceRef`` is checked even when Flux did not apply the target), and
    WriteBackUnsupported when a HelmRelease's chart and values are in no GitRepository."""
    if not applied_by_flux(target):
        gitops = parsed_canary(canary).spec.gitops
        if gitops is not None and gitops.source_ref is not None:
            await _refusal_only(kube, canary, target)
        return None
    try:
        source = await resolve_source(kube, canary, target)
    except (SourceRefused, WriteBackUnsupported):
        raise
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


async def _refusal_only(kube: Kube, canary: Obj, target: Obj) -> None:
    try:
        await resolve_source(kube, canary, target)
    except SourceRefused:
        raise
    except (SourceNotFound, KubeError):
        return


async def correlate_source(
    kube: Kube, canary: Obj, target: Obj, changed_image: str, conditions: list[Obj], now: float
) -> tuple[Obj | None, list[Obj]]:
    """:func:`correlate`, and the conditions with ``SourceAllowed`` brought up to date.

    A refusal sets ``SourceAllowed`` False (reason ``SourceRefused``) and records a Warning Event
    when its message is new; a source that resolves again drops the condition. A HelmRelease
    source that cannot be written sets ``WriteBack`` False (reason ``UnsupportedSource``) the same
    way."""
    try:
        fields = await correlate(kube, canary, target, changed_image)
    except WriteBackUnsupported as unsupported:
        message = str(unsupported)
        kept = without_conditions(conditions, SOURCE_ALLOWED)
        updated = set_condition(kept, WRITE_BACK, "False", UNSUPPORTED_SOURCE, message, now)
        if updated != kept:
            await record_event(kube, canary, "Warning", UNSUPPORTED_SOURCE, message)
        return None, updated
    except SourceRefused as refused:
        message = str(refused)
        updated = set_condition(conditions, SOURCE_ALLOWED, "False", SOURCE_REFUSED, message, now)
        if updated != conditions:
            await record_event(kube, canary, "Warning", SOURCE_REFUSED, message)
        return None, updated
    return fields, without_conditions(conditions, SOURCE_ALLOWED, WRITE_BACK)


def write_back_unsupported(canary: Obj) -> bool:
    """Whether the last correlation found the target's source impossible to write back to
    (``WriteBack=False``, ``UnsupportedSource``); an explicit ``spec.gitops`` overrides it."""
    if parsed_canary(canary).spec.gitops is not None:
        return False
    conditions = (canary.get("status") or {}).get("conditions") or []
    return any(
        c.get("type") == WRITE_BACK and c.get("reason") == UNSUPPORTED_SOURCE and c.get("status") == "False"
        for c in conditions
    )


def replicas_conflict(canary: Obj, target: Obj) -> str | None:
    ref = parsed_canary(canary).spec.autoscaler_ref
    if ref is None:
        return None
    for entry in target["metadata"].get("managedFields") or []:
        spec = (entry.get("fieldsV1") or {}).get("f:spec") or {}
        if entry.get("manager") == FLUX_MANAGER and "f:replicas" in spec:
            return (
                f"{target['kind']} {target['metadata']['name']} sets spec.replicas in Git while "
                f"{ref.kind} {ref.name} "
                "manages replicas: remove replicas from the manifest, or Flux will scale the canary back up"
            )
    return None
