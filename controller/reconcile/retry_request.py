"""``gitcanary retry``: analyse a Failed canary's revision once more, on request.

Argo Rollouts' ``retry rollout`` takes an aborted rollout back to the start of its update with
the same template. gitcanary's equivalent: a Failed Canary whose target still runs the revision
that failed is analysed again from the first step (weight 0, counters reset), without a new
revision. The request is the annotation ``gitcanary.io/retry: requested`` on the Canary, kept
like the manual gates of :mod:`controller.hooks.gates`: visible, and surviving controller restarts.

The reconcile loop honours it by starting the tick from a state that has forgotten which
revision it analysed last (``last_applied_spec`` cleared): a Failed canary then meets its
revision as new and starts the analysis exactly as for a new revision (confirm-rollout gate,
analysis slot and all). The annotation is removed only after the tick's status is saved, so a
tick that fails leaves the request for the next one.

Invariants:
* Only the exact value ``requested`` is a request; it is removed once acted on, so it causes at
  most one retry, and an Event says what became of it (``Retry`` or ``RetryRefused``).
* A retry is refused (the request is removed, with a Warning Event naming why) when it could
  not analyse the failed revision: the Canary is not Failed, or suspended, a write-back is still
  pending, the rollback was reverted in Git (the failed revision is no longer in Git: push it
  again instead), or the target already runs the primary's revision.
* ``retry_refusal`` is pure, and the CLI asks it first, so a refused request is reported at once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Final

from controller.analysis import CanaryState
from controller.api import API_VERSION, parsed_or_none
from controller.events import record_event
from controller.kube import Kube
from controller.reconcile.rollback_guard import reverted_in_git

__all__ = [
    "RETRY_ANNOTATION",
    "RETRY_CONSUMED_PATCH",
    "RETRY_REQUESTED",
    "RetryRequest",
    "read_retry",
    "retry_refusal",
    "settle_retry",
]

Obj = dict[str, Any]

RETRY_ANNOTATION: Final = "gitcanary.io/retry"
RETRY_REQUESTED: Final = "requested"
RETRY_CONSUMED_PATCH: Final[Obj] = {"metadata": {"annotations": {RETRY_ANNOTATION: None}}}
"""The merge patch that removes a retry request once it was acted on (a no-op when gone)."""


def retry_refusal(canary: Obj, revision: str) -> str | None:
    """Why a retry of ``canary``, whose target runs ``revision``, cannot be honoured (None: it can)."""
    status = canary.get("status") or {}
    phase = status.get("phase") or "Initializing"
    if phase != "Failed":
        return f"the canary is {phase}: only a Failed canary can be retried"
    parsed = parsed_or_none(canary)
    # `gitcanary retry` asks about a Canary the models may reject: its spec is then read as
    # written, as it always was (the runner only asks about valid ones).
    if parsed.spec.suspend if parsed is not None else (canary.get("spec") or {}).get("suspend"):
        return "the canary is suspended (spec.suspend)"
    gitops = status.get("gitops") or {}
    if gitops.get("pending"):
        return "a write-back is pending: the rollback is being written to Git"
    if reverted_in_git(canary):
        commit = str((gitops.get("lastWriteBack") or {}).get("commit") or "")[:7]
        return (
            f"the rollback was reverted in Git{f' (commit {commit})' if commit else ''}: "
            "the failed revision is no longer in Git; push it again to analyse it"
        )
    if revision and revision == status.get("lastPromotedSpec"):
        return "the target runs the primary's revision: there is nothing to analyse again"
    return None


@dataclass(frozen=True)
class RetryRequest:
    """What this tick makes of the retry annotation."""

    state: CanaryState
    """The state the tick starts from (the persisted one unless a retry is honoured)."""
    requested: bool = False
    refusal: str = ""


def read_retry(canary: Obj, state: CanaryState, revision: str) -> RetryRequest:
    """The tick's starting state: with an honoured request, one that meets ``revision`` as new."""
    annotations = (canary.get("metadata") or {}).get("annotations") or {}
    if str(annotations.get(RETRY_ANNOTATION) or "").strip() != RETRY_REQUESTED:
        return RetryRequest(state)
    refusal = retry_refusal(canary, revision)
    if refusal:
        return RetryRequest(state, requested=True, refusal=refusal)
    return RetryRequest(replace(state, last_applied_spec=""), requested=True)


async def settle_retry(kube: Kube, canary: Obj, request: RetryRequest, revision: str) -> None:
    """After the tick's status is saved: remove the request and say what became of it."""
    if not request.requested:
        return
    meta = canary["metadata"]
    await kube.merge_patch(API_VERSION, "Canary", meta["namespace"], meta["name"], RETRY_CONSUMED_PATCH)
    if request.refusal:
        await record_event(kube, canary, "Warning", "RetryRefused", f"Retry refused: {request.refusal}")
        return
    await record_event(
        kube,
        canary,
        "Normal",
        "Retry",
        f"Retrying the analysis of revision {revision} (requested by annotation {RETRY_ANNOTATION})",
    )
