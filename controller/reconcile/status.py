"""The Canary status <-> engine state mapping, conditions, and write-back intents.

The status is the only state. Flagger's fields carry the engine's main state;
``status.engine`` carries the rest. Intents produced by a tick are merged into
``status.gitops.pending`` in the same patch as the state that decided them, so
a crash either persists both or neither, and the intent id is deterministic so
a replayed tick cannot queue the same write-back twice.

Every write of a tick to its Canary (``patch_canary``) is conditional on the
``metadata.resourceVersion`` the tick read: a writer that changed the Canary in
between is noticed (HTTP 409, ``StatusConflict``) instead of being overwritten,
and the runner decides again from a fresh read. The tick's own writes move the
resourceVersion it holds forward, so they never conflict with each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from controller.analysis import CanaryState, Phase, RequestWriteBack
from controller.api.conditions import set_condition
from controller.api.status import checked_status
from controller.api.timestamps import epoch, rfc3339
from controller.errors import TemporaryError
from controller.gitops.workflow.intents import intent_id, merge_pending
from controller.kube import Kube, KubeError
from controller.workloads.images import analysed_image, changed_images

Obj = dict[str, Any]

CANARY_API = "gitcanary.io/v1beta1"
ROLLBACK_REQUEST = "rollbackRequest"
"""``status.engine`` field: the revision a manual rollback request was saved for."""

PROMOTED = "Promoted"

# phase -> (status, reason, message) of the Promoted condition, as Flagger words them.
_PROMOTED_CONDITION: dict[Phase, tuple[str, str, str]] = {
    Phase.INITIALIZING: ("Unknown", "Initializing", "New {kind} detected, starting initialization."),
    Phase.INITIALIZED: ("True", "Initialized", "{kind} initialization completed."),
    Phase.WAITING: ("Unknown", "Waiting", "Waiting for approval."),
    Phase.PROGRESSING: ("Unknown", "Progressing", "New revision detected, progressing canary analysis."),
    Phase.WAITING_PROMOTION: ("Unknown", "WaitingPromotion", "Waiting for approval."),
    Phase.PROMOTING: ("Unknown", "Promoting", "Canary analysis completed, starting primary rolling update."),
    Phase.FINALISING: ("Unknown", "Finalising", "Canary analysis completed, routing all traffic to primary."),
    Phase.SUCCEEDED: ("True", "Succeeded", "Canary analysis completed successfully, promotion finished."),
    Phase.FAILED: ("False", "Failed", "Canary analysis failed, {kind} scaled to zero."),
    Phase.TERMINATING: ("Unknown", "Terminating", "Canary is being deleted."),
    Phase.TERMINATED: ("Unknown", "Terminated", "Canary deleted."),
}


def state_from_status(status: Obj | None) -> CanaryState:
    status = status or {}
    engine = status.get("engine") or {}
    raw = {
        "phase": status.get("phase") or "",
        "canary_weight": status.get("canaryWeight", 0),
        "failed_checks": status.get("failedChecks", 0),
        "iterations": status.get("iterations", 0),
        "last_applied_spec": status.get("lastAppliedSpec") or "",
        "last_promoted_spec": status.get("lastPromotedSpec") or "",
        "last_transition_time": epoch(status.get("lastTransitionTime")),
        "progress_started_at": engine.get("progressStartedAt"),
        "primary_route_weight": engine.get("primaryRouteWeight", 100),
        "canary_route_weight": engine.get("canaryRouteWeight", 0),
        "mirrored": engine.get("mirrored", False),
        "last_failure": engine.get("lastFailure", ""),
        "halt_notified_at": engine.get("haltNotifiedAt"),
        "last_analysis_at": engine.get("lastAnalysisAt"),
        "inconclusive_checks": status.get("inconclusiveChecks", 0),
        "last_inconclusive": engine.get("lastInconclusive", ""),
        "hold_started_at": engine.get("holdStartedAt"),
    }
    return CanaryState.from_dict(raw)


def promoted_conditions(phase: Phase, kind: str, existing: Sequence[Obj], now: float) -> list[Obj]:
    """``existing`` with the ``Promoted`` condition for ``phase``, as Flagger words it."""
    status, reason, message = _PROMOTED_CONDITION[phase]
    return set_condition(existing, PROMOTED, status, reason, message.format(kind=kind), now)


ROLLBACK_RESULTS = ("rolled-back", "inconclusive")
"""Write-back results that revert Git (kind ``rollback``); only ``rolled-back`` quarantines."""


def intents_for(
    canary_key: str,
    write_backs: Sequence[RequestWriteBack],
    target_image: str,
    primary_image: str,
    now: float,
    stable_image: str = "",
    introduced_by: str = "",
) -> list[Obj]:
    """Intents in the write-back convention: ``image`` is what the commit writes to Git and
    ``previousImage`` what Git held before (the failed canary image, on rollback)."""
    out = []
    for wb in write_backs:
        rollback = wb.result in ROLLBACK_RESULTS
        kind = "rollback" if rollback else "promotion"
        if rollback:
            image, previous = primary_image, target_image
        else:
            image, previous = target_image, stable_image or primary_image
        out.append(
            {
                # A rollback's id includes the commit that introduced the revision: if image automation
                # re-proposes the same bad image in a new commit (it can race the quarantine), that is
                # a new decision and gets a new write-back instead of matching the old trailer.
                "id": intent_id(canary_key, kind, wb.revision, image, introduced_by if rollback else ""),
                "kind": kind,
                "canaryRevision": wb.revision,
                "image": image,
                "previousImage": previous,
                "result": wb.result,
                "analysis": wb.summary,
                "createdAt": rfc3339(now),
            }
        )
    return out


def with_new_intents(gitops: Obj | None, new: Sequence[Obj]) -> Obj:
    """``status.gitops`` with ``new`` intents queued (none already pending or applied)."""
    gitops = dict(gitops or {})
    gitops["pending"] = merge_pending(gitops.get("pending") or [], new, applied=gitops.get("applied") or [])
    return gitops


def status_patch(
    state: CanaryState,
    *,
    kind: str,
    old_status: Obj | None,
    revision: str,
    tracked: dict[str, str],
    new_intents: Sequence[Obj],
    now: float,
) -> Obj:
    old_status = old_status or {}
    patch: Obj = {
        "phase": state.phase.value,
        "canaryWeight": state.canary_weight,
        "failedChecks": state.failed_checks,
        "inconclusiveChecks": state.inconclusive_checks,
        "iterations": state.iterations,
        "lastAppliedSpec": state.last_applied_spec,
        "lastPromotedSpec": state.last_promoted_spec,
        "lastTransitionTime": rfc3339(state.last_transition_time or now),
        "trackedConfigs": tracked,
        "conditions": promoted_conditions(state.phase, kind, old_status.get("conditions") or [], now),
        "engine": {
            "progressStartedAt": state.progress_started_at,
            "primaryRouteWeight": state.primary_route_weight,
            "canaryRouteWeight": state.canary_route_weight,
            "mirrored": state.mirrored,
            "lastFailure": state.last_failure,
            "haltNotifiedAt": state.halt_notified_at,
            "lastAnalysisAt": state.last_analysis_at,
            "lastInconclusive": state.last_inconclusive,
            "holdStartedAt": state.hold_started_at,
            "revision": revision,
        },
    }
    if new_intents:
        patch["gitops"] = with_new_intents(old_status.get("gitops"), new_intents)
    return patch


def decision_intents(
    key: str,
    write_backs: Sequence[RequestWriteBack],
    target: Obj,
    primary: Obj | None,
    stable_images: dict[str, str],
    now: float,
    introduced_by: str,
) -> list[Obj]:
    """One intent per promotion (the first changed image), one per changed image per rollback."""
    first = analysed_image(target, primary, stable_images)
    rollbacks = [wb for wb in write_backs if wb.result in ROLLBACK_RESULTS]
    others = [wb for wb in write_backs if wb.result not in ROLLBACK_RESULTS]
    intents = intents_for(key, others, first.target, first.primary, now, first.stable, introduced_by)
    for image in changed_images(target, primary, stable_images) or [first]:
        intents += intents_for(key, rollbacks, image.target, image.primary, now, image.stable, introduced_by)
    return intents


class StatusConflict(TemporaryError):
    """The Canary changed between the tick's read and its write (HTTP 409 Conflict)."""


async def patch_canary(kube: Kube, raw: Obj, patch: Obj, subresource: str = "status") -> Obj:
    """Merge-patch the Canary read as ``raw`` only if it has not changed since; keep ``raw``'s
    resourceVersion current so the tick's next write is checked against the object as it left
    it. Raise ``StatusConflict`` when another writer changed the Canary in between."""
    meta = raw["metadata"]
    try:
        live = await kube.merge_patch(
            CANARY_API,
            "Canary",
            meta["namespace"],
            meta["name"],
            checked_status(patch) if subresource == "status" else patch,
            subresource,
            resource_version=meta.get("resourceVersion"),
        )
    except KubeError as exc:
        if exc.status == 409:
            raise StatusConflict(
                f"Canary {meta['namespace']}/{meta['name']} changed during the tick"
            ) from exc
        raise
    version = ((live or {}).get("metadata") or {}).get("resourceVersion")
    if version:
        meta["resourceVersion"] = version
    return live


def merge_changes(live: Obj, patch: Obj) -> bool:
    """Whether the JSON merge ``patch`` would change ``live``: a tick that would write what the
    status already says writes nothing. A map the patch adds with no value (``{}``, or only
    nulls) counts as no change, as a field that is absent reads like an empty one."""
    for key, value in patch.items():
        if value is None:
            if live.get(key) is not None:
                return True
            continue
        old = live.get(key)
        if isinstance(value, dict):
            if isinstance(old, dict):
                if merge_changes(old, value):
                    return True
            elif old is not None or _has_value(value):
                return True
        elif old is None or isinstance(old, bool) is not isinstance(value, bool) or old != value:
            return True
    return False


def _has_value(patch: Obj) -> bool:
    return any(_has_value(v) if isinstance(v, dict) else v is not None for v in patch.values())


def saved_rollback_request(status: Obj | None) -> str:
    """The revision a manual rollback request was saved for (``""``: none)."""
    return str(((status or {}).get("engine") or {}).get(ROLLBACK_REQUEST) or "")
