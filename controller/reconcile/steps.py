"""The named steps of one tick, after the spec is known valid (``controller.reconcile.runner``).

1. ``decide``: read the target, pick the router, load the templates, and run one engine tick
   against the tick's effects (``controller.reconcile.world``);
2. ``write_back_intents``: the decisions to write back to Git, as intents with deterministic ids
   (or, for a Failed Canary, a rollback again when Flux re-applied the failed image);
3. ``status_after``: the status patch that saves the decision, the intents, the stable images,
   the Flux source of a new revision and what the effects learnt;
4. ``announce``: once that patch is saved, the tick's Events and (in the background) its alerts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from controller.analysis import CanaryState, Decision, drive_async, tick
from controller.api import Canary
from controller.api.conditions import set_condition
from controller.events import record_event
from controller.flux.correlation import applied_by_flux
from controller.flux.images import ImageOrigin
from controller.kube import Kube
from controller.reconcile import spec_mapping
from controller.reconcile.correlation import correlate_source, replicas_conflict, write_back_unsupported
from controller.reconcile.retry_request import RetryRequest, read_retry
from controller.reconcile.rollback_guard import check_reapplied, reverted_in_git
from controller.reconcile.slots import AnalysisSlots
from controller.reconcile.status import (
    ROLLBACK_REQUEST,
    decision_intents,
    intents_for,
    saved_rollback_request,
    state_from_status,
    status_patch,
)
from controller.reconcile.world import CanaryWorld, load_templates
from controller.routers.factory import router_for
from controller.workloads.images import analysed_image, container_images, stable_images_of
from controller.workloads.target import TargetWorkload

Obj = dict[str, Any]

VALID = "Valid"
STABLE_PHASES = frozenset({"Initialized", "Waiting", "Progressing", "WaitingPromotion", "Failed"})
"""Phases in which the primary still runs the last promoted version."""


def write_back_enabled(canary: Obj, target: Obj | None) -> bool:
    """Write back when ``spec.gitops`` is set (even empty) or Flux applied the target."""
    if canary["spec"].get("gitops") is not None:
        return True
    return bool(target and applied_by_flux(target)) and not write_back_unsupported(canary)


def valid_condition(ok: bool, message: str, old: list[Obj], now: float) -> list[Obj]:
    return set_condition(
        old, VALID, "True" if ok else "False", "Valid" if ok else "InvalidSpec", message, now
    )


def note_condition(kind: str, message: str, old: list[Obj], now: float) -> list[Obj]:
    """An informational condition (e.g. which KEDA API group the autoscaler copy uses)."""
    return set_condition(old, kind, "True", "Reconciled", message, now)


@dataclass
class Decided:
    """One engine tick's decision, with what the tick read to reach it."""

    world: CanaryWorld
    workload: TargetWorkload
    target: Obj
    """The target as the tick first read it."""
    revision: str
    tracked: dict[str, str]
    before: CanaryState
    retry: RetryRequest
    decision: Decision
    stable_images: dict[str, str]
    """The images the primary ran before this revision, for the promotion record: the primary is
    already promoted when the promotion is written back, so they are remembered while stable."""

    @property
    def phase(self) -> str:
        return self.decision.state.phase.value


async def decide(
    kube: Kube,
    raw: Obj,
    canary: Canary,
    *,
    metrics_server: str,
    default_provider: str,
    slots: AnalysisSlots,
    now: float,
) -> Decided:
    """Observe the target's revision and run one engine tick against the cluster."""
    workload = TargetWorkload(kube, raw)
    target = await workload.fetch()  # read once: revision() below answers from this read
    revision, tracked = await workload.revision()
    world = CanaryWorld(
        kube=kube,
        canary=canary,
        raw=raw,
        workload=workload,
        router=router_for(kube, raw, default_provider),
        revision=revision,
        metrics_server=canary.spec.metrics_server or metrics_server,
        default_provider=default_provider,
        checks=spec_mapping.metric_checks(canary, await load_templates(kube, canary)),
        hooks=spec_mapping.webhooks(canary),
        phase=(raw.get("status") or {}).get("phase") or "Initializing",
        slots=slots,
    )
    spec = spec_mapping.analysis_spec(canary, default_provider)
    before = state_from_status(raw.get("status"))
    retry = read_retry(raw, before, revision)  # gitcanary.io/retry (gitcanary retry)
    decision = await drive_async(tick(spec, retry.state, now, revision), world.handle)
    stable = stable_images_of(raw.get("status"), workload.last_primary)
    return Decided(world, workload, target, revision, tracked, before, retry, decision, stable)


async def write_back_intents(
    kube: Kube, raw: Obj, canary: Canary, decided: Decided, now: float
) -> tuple[list[Obj], str]:
    """The intents this decision queues, and the commit that re-proposed a failed image (if any)."""
    workload = decided.workload
    if decided.world.write_backs:
        target, primary = await workload.fetch(), await workload.fetch_primary()
        if not write_back_enabled(raw, target):
            return [], ""
        stable = decided.stable_images
        introduced_by = ((raw.get("status") or {}).get("gitops") or {}).get("introducedBy") or ""
        intents = decision_intents(
            canary.key, decided.world.write_backs, target, primary, stable, now, introduced_by
        )
        return intents, ""
    if decided.phase == "Failed":
        return await _recheck_rollback(kube, raw, canary.key, workload, now)
    return [], ""


async def _recheck_rollback(
    kube: Kube, raw: Obj, key: str, workload: TargetWorkload, now: float
) -> tuple[list[Obj], str]:
    """A rollback intent again when Flux applied a new revision that still deploys the failed
    image (image automation re-proposed it); see :mod:`controller.reconcile.rollback_guard`."""
    if not reverted_in_git(raw):  # most Failed Canaries: no reads at all
        return [], ""
    target, primary = await workload.fetch(), await workload.fetch_primary()
    if not write_back_enabled(raw, target):
        return [], ""
    image = analysed_image(target, primary, stable_images_of(raw.get("status"), target))
    again = await check_reapplied(kube, raw, target, image.target, image.primary)
    if again is None:
        return [], ""
    await record_event(kube, raw, "Warning", "RollbackRecheck", again.message(image.target, image.primary))
    intents = intents_for(key, [again.write_back], image.target, image.primary, now, image.stable, again.sha)
    return intents, again.sha


async def status_after(
    kube: Kube, raw: Obj, canary: Canary, decided: Decided, intents: list[Obj], reapplied_sha: str, now: float
) -> Obj:
    """The status patch that saves the decision and everything the tick learnt."""
    status = raw.get("status")
    stable_images = decided.stable_images
    if decided.phase in STABLE_PHASES and decided.workload.last_primary is not None:
        stable_images = container_images(decided.workload.last_primary) or stable_images
    patch = status_patch(
        decided.decision.state,
        kind=canary.spec.target_ref.kind,
        old_status=status,
        revision=decided.revision,
        tracked=decided.tracked,
        new_intents=intents,
        now=now,
    )
    engine = patch["engine"]
    engine["stableImage"] = next(iter(stable_images.values()), None)
    # A merge patch merges maps: containers that are gone are removed with explicit nulls.
    recorded = ((status or {}).get("engine") or {}).get("stableImages") or {}
    gone: dict[str, str | None] = {name: None for name in recorded if name not in stable_images}
    engine["stableImages"] = {**gone, **stable_images} or None
    await _correlate(kube, raw, decided, patch)
    world = decided.world
    if reapplied_sha:  # answered once: the next tick compares Flux's revision with this one
        patch.setdefault("gitops", {})["introducedBy"] = reapplied_sha
    patch["conditions"] = valid_condition(True, "Canary spec is valid", patch["conditions"], now)
    if world.autoscaler_note:
        patch["conditions"] = note_condition("Autoscaler", world.autoscaler_note, patch["conditions"], now)
    if world.approval_status is not None:  # the approval pull request, in the same patch
        patch.setdefault("gitops", {})["approval"] = world.approval_status
    saved_request = saved_rollback_request(status)
    if world.rollback_request_consumed or (saved_request and saved_request != decided.revision):
        engine[ROLLBACK_REQUEST] = None  # saved with the rollback it asked for, or stale
    return patch


async def _correlate(kube: Kube, raw: Obj, decided: Decided, patch: Obj) -> None:
    """On a new revision (or the first tick), record its Flux source and check replicas.

    The target is the one the tick first read: the tick's own writes to it (replicas) change
    neither its Flux labels, its managed fields nor its images, so it is not read again."""
    applied, target = decided.decision.state.last_applied_spec, decided.target
    known = ((raw.get("status") or {}).get("gitops") or {}).get("source")
    if applied == decided.before.last_applied_spec and known:
        return
    stable = stable_images_of(raw.get("status"), target)
    image = analysed_image(target, decided.workload.last_primary, stable)
    fields, patch["conditions"] = await correlate_source(
        kube, raw, target, image.target if image.changed else "", patch["conditions"], time.time()
    )
    if fields:
        patch["gitops"] = {**(patch.get("gitops") or {}), **fields}
        if applied != decided.before.last_applied_spec and fields["source"].get("revision"):
            source, ks = fields["source"], fields.get("kustomization") or {}
            origin = ImageOrigin(fields.get("imagePolicies") or [], fields.get("imageAutomation"))
            message = (
                f"Revision {source['revision']} applied by Kustomization {ks.get('namespace')}/{ks.get('name')}"
                + origin.describe()
            )
            await record_event(kube, raw, "Normal", "Revision", message)
    conflict = replicas_conflict(raw, target)
    if conflict:
        patch["conditions"] = note_condition("ReplicasConflict", conflict, patch["conditions"], time.time())
