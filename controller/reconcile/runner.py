"""One reconcile of one Canary: validate, observe the revision, run one engine tick, persist status.

Failure policy (never a crash loop):
- an invalid spec sets the ``Valid`` condition to False with every problem listed, records a
  Warning Event once per distinct message, and waits for the spec to change;
- errors are classified by kind (``controller.errors``), not listed: a ``PermanentError`` (or
  a builtin ``ValueError``/``LookupError``: a missing target, template or provider) sets
  ``Valid=False`` with a Warning Event; a ``TemporaryError`` (an API error) records a Warning
  Event; both keep the old state (the tick's status is not persisted) and retry later;
- alerts are best-effort: the tick only collects them, and they are sent in the background
  after the status patch (``controller.reconcile.alerts``), so they can neither abort nor delay
  the decision;
- every write to the Canary is conditional on the resourceVersion the tick read: when another
  writer changed the Canary meanwhile (409), the tick decides again from a fresh read, at most
  ``CONFLICT_ATTEMPTS`` times, then records a ``StatusConflict`` Warning Event and retries later.
"""

from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from controller.analysis import CanaryState, drive_async, tick
from controller.api import Canary, validate_canary
from controller.api.conditions import set_condition
from controller.errors import PERMANENT, TemporaryError
from controller.events import record_event
from controller.flux.correlation import applied_by_flux
from controller.flux.images import ImageOrigin
from controller.kube import Kube, shared_reads
from controller.reconcile import spec_mapping
from controller.reconcile.alerts import AlertOutbox
from controller.reconcile.correlation import correlate_source, replicas_conflict, write_back_unsupported
from controller.reconcile.retry_request import read_retry, settle_retry
from controller.reconcile.rollback_guard import check_reapplied, reverted_in_git
from controller.reconcile.slots import AnalysisSlots
from controller.reconcile.status import (
    CANARY_API,
    ROLLBACK_REQUEST,
    StatusConflict,
    decision_intents,
    intents_for,
    merge_changes,
    patch_canary,
    saved_rollback_request,
    state_from_status,
    status_patch,
)
from controller.reconcile.world import CanaryWorld, load_templates
from controller.routers.factory import router_for
from controller.tenancy import TenancySettings, refused_references
from controller.workloads.images import analysed_image, container_images, stable_images_of
from controller.workloads.target import TargetWorkload

log = logging.getLogger(__name__)
Obj = dict[str, Any]

__all__ = ["CANARY_API", "ReconcileSettings", "TickResult", "reconcile_canary", "write_back_enabled"]

VALID = "Valid"
INVALID_RETRY_S = 300.0
# Phases in which the primary still runs the last promoted version.
STABLE_PHASES = frozenset({"Initialized", "Waiting", "Progressing", "WaitingPromotion", "Failed"})
ERROR_RETRY_S = 10.0
CONFLICT_ATTEMPTS = 3
"""Ticks decided (from a fresh read each) before a conflicting writer is reported."""


SPEC_CACHE_SIZE = 4096
"""Canaries whose checked spec is kept (one entry per Canary and generation, least recent out)."""
SPEC_CACHE: OrderedDict[tuple[str, int, str], tuple[tuple[str, ...], Canary | None]] = OrderedDict()


def checked_spec(raw: Obj) -> tuple[list[str], Canary | None]:
    """The spec's problems, or the parsed Canary when there are none.

    Validating and parsing the spec is most of a quiet tick's CPU, and its answer changes only
    with ``metadata.generation`` (and the labels and annotations the model carries, which do not
    move the generation): it is kept per uid, generation, labels and annotations. The parsed
    Canary leaves the status out (the tick reads the status from ``raw``). A Canary without a
    uid or a generation (never one the API server served) is checked every time."""
    meta = raw.get("metadata") or {}
    uid, generation = meta.get("uid"), meta.get("generation")
    if not isinstance(uid, str) or not isinstance(generation, int):
        problems = validate_canary(raw)
        return problems, None if problems else Canary.from_k8s(raw)
    marks = json.dumps([meta.get("labels"), meta.get("annotations")], sort_keys=True, default=str)
    key = (uid, generation, marks)
    if key in SPEC_CACHE:
        SPEC_CACHE.move_to_end(key)
        cached, parsed = SPEC_CACHE[key]
        return list(cached), parsed
    problems = validate_canary(raw)
    parsed = None if problems else Canary.from_k8s({k: v for k, v in raw.items() if k != "status"})
    SPEC_CACHE[key] = (tuple(problems), parsed)
    while len(SPEC_CACHE) > SPEC_CACHE_SIZE:
        SPEC_CACHE.popitem(last=False)
    return problems, parsed


@dataclass(frozen=True)
class TickResult:
    """When to tick again, and whether write-back intents wait in the status."""

    delay: float
    pending_write_back: bool = False


def write_back_enabled(canary: Obj, target: Obj | None) -> bool:
    """Write back when ``spec.gitops`` is set (even empty) or Flux applied the target."""
    if canary["spec"].get("gitops") is not None:
        return True
    return bool(target and applied_by_flux(target)) and not write_back_unsupported(canary)


@dataclass(frozen=True)
class ReconcileSettings:
    metrics_server: str = "http://prometheus.istio-system:9090"
    default_provider: str = "kubernetes"
    slots: AnalysisSlots = field(default_factory=AnalysisSlots)
    alerts: AlertOutbox = field(default_factory=AlertOutbox)


def _valid_condition(ok: bool, message: str, old: list[Obj], now: float) -> list[Obj]:
    return set_condition(
        old, VALID, "True" if ok else "False", "Valid" if ok else "InvalidSpec", message, now
    )


def _note_condition(kind: str, message: str, old: list[Obj], now: float) -> list[Obj]:
    """An informational condition (e.g. which KEDA API group the autoscaler copy uses)."""
    return set_condition(old, kind, "True", "Reconciled", message, now)


async def _patch_status(kube: Kube, raw: Obj, patch: Obj) -> None:
    """Merge-patch the status, unless the patch would leave the live status as it is."""
    if merge_changes(raw.get("status") or {}, patch):
        await patch_canary(kube, raw, {"status": patch})


async def _report_problem(kube: Kube, raw: Obj, reason: str, message: str, now: float) -> None:
    status = raw.get("status") or {}
    old = status.get("conditions") or []
    previous = next((c for c in old if c.get("type") == VALID), None)
    if previous is None or previous.get("message") != message:
        await record_event(kube, raw, "Warning", reason, message)
    await _patch_status(kube, raw, {"conditions": _valid_condition(False, message, old, now)})


async def _correlate(
    kube: Kube, raw: Obj, workload: TargetWorkload, before: CanaryState, applied: str, patch: Obj, target: Obj
) -> None:
    """On a new revision (or the first tick), record its Flux source and check replicas.

    ``target`` is the target as the tick first read it: the tick's own writes to it (replicas)
    change neither its Flux labels, its managed fields nor its images, so it is not read again."""
    known = ((raw.get("status") or {}).get("gitops") or {}).get("source")
    if applied == before.last_applied_spec and known:
        return
    image = analysed_image(target, workload.last_primary, stable_images_of(raw.get("status"), target))
    fields, patch["conditions"] = await correlate_source(
        kube, raw, target, image.target if image.changed else "", patch["conditions"], time.time()
    )
    if fields:
        patch["gitops"] = {**(patch.get("gitops") or {}), **fields}
        if applied != before.last_applied_spec and fields["source"].get("revision"):
            source, ks = fields["source"], fields.get("kustomization") or {}
            origin = ImageOrigin(fields.get("imagePolicies") or [], fields.get("imageAutomation"))
            await record_event(
                kube,
                raw,
                "Normal",
                "Revision",
                f"Revision {source['revision']} applied by Kustomization {ks.get('namespace')}/{ks.get('name')}"
                + origin.describe(),
            )
    conflict = replicas_conflict(raw, target)
    if conflict:
        patch["conditions"] = _note_condition("ReplicasConflict", conflict, patch["conditions"], time.time())


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


async def reconcile_canary(
    kube: Kube, raw: Obj, settings: ReconcileSettings, now: float | None = None
) -> TickResult:
    """Run one tick; return when to run the next one. A tick whose write meets another writer's
    change decides again from a fresh read (at most ``CONFLICT_ATTEMPTS`` ticks)."""
    for attempt in range(1, CONFLICT_ATTEMPTS + 1):
        try:
            with shared_reads():  # the tick reads each object once, again after its own writes
                return await _tick(kube, raw, settings, time.time() if now is None else now)
        except StatusConflict as conflict:
            meta = raw["metadata"]
            log.info("%s/%s: %s; deciding again (%d)", meta["namespace"], meta["name"], conflict, attempt)
            fresh = await kube.get(CANARY_API, "Canary", meta["namespace"], meta["name"])
            if fresh is None or fresh["metadata"].get("deletionTimestamp"):
                return TickResult(ERROR_RETRY_S)
            raw = fresh
            if attempt == CONFLICT_ATTEMPTS:
                message = f"{conflict} {CONFLICT_ATTEMPTS} times in a row; the status was not saved, retrying"
                await record_event(kube, raw, "Warning", "StatusConflict", message)
        except TemporaryError as exc:  # a write after the decision met an API server that is away
            meta = raw["metadata"]
            log.warning("%s/%s: %s, retrying: %s", meta["namespace"], meta["name"], type(exc).__name__, exc)
            await record_event(kube, raw, "Warning", "ReconcileFailed", str(exc))
            return TickResult(exc.delay)
    return TickResult(ERROR_RETRY_S)


async def _tick(kube: Kube, raw: Obj, settings: ReconcileSettings, now: float) -> TickResult:
    problems, canary = checked_spec(raw)
    if problems or canary is None:
        await _report_problem(kube, raw, "InvalidSpec", "invalid Canary: " + "; ".join(problems), now)
        return TickResult(INVALID_RETRY_S)
    refused = refused_references(canary, TenancySettings.from_env())
    if refused:  # a template or provider elsewhere would lend that namespace's Secrets
        await _report_problem(kube, raw, "CrossNamespaceRefused", "; ".join(refused), now)
        return TickResult(INVALID_RETRY_S)
    try:
        workload = TargetWorkload(kube, raw)
        target = await workload.fetch()  # read once: revision() below answers from this read
        revision, tracked = await workload.revision()
        router = router_for(kube, raw, settings.default_provider)
        templates = await load_templates(kube, canary)
        world = CanaryWorld(
            kube=kube,
            canary=canary,
            raw=raw,
            workload=workload,
            router=router,
            revision=revision,
            metrics_server=canary.spec.metrics_server or settings.metrics_server,
            default_provider=settings.default_provider,
            checks=spec_mapping.metric_checks(canary, templates),
            hooks=spec_mapping.webhooks(canary),
            phase=(raw.get("status") or {}).get("phase") or "Initializing",
            slots=settings.slots,
        )
        spec = spec_mapping.analysis_spec(canary, settings.default_provider)
        state = state_from_status(raw.get("status"))
        retry = read_retry(raw, state, revision)  # gitcanary.io/retry (gitcanary retry)
        decision = await drive_async(tick(spec, retry.state, now, revision), world.handle)
    except StatusConflict:
        raise  # decided again by reconcile_canary
    except PERMANENT as exc:
        await _report_problem(kube, raw, "ReconcileFailed", str(exc), now)
        return TickResult(ERROR_RETRY_S)
    except TemporaryError as exc:
        log.warning("%s: %s, retrying: %s", canary.key, type(exc).__name__, exc)
        await record_event(kube, raw, "Warning", "ReconcileFailed", str(exc))
        return TickResult(exc.delay)
    # The images the primary ran before this revision, for the promotion record: the primary is
    # already promoted when the promotion is written back, so they are remembered while stable.
    stable_images = stable_images_of(raw.get("status"), workload.last_primary)
    intents: list[Obj] = []
    reapplied_sha = ""
    if world.write_backs:
        target, primary = await workload.fetch(), await workload.fetch_primary()
        if write_back_enabled(raw, target):
            introduced_by = ((raw.get("status") or {}).get("gitops") or {}).get("introducedBy") or ""
            intents = decision_intents(
                canary.key, world.write_backs, target, primary, stable_images, now, introduced_by
            )
    elif decision.state.phase.value == "Failed":
        intents, reapplied_sha = await _recheck_rollback(kube, raw, canary.key, workload, now)
    if decision.state.phase.value in STABLE_PHASES and workload.last_primary is not None:
        stable_images = container_images(workload.last_primary) or stable_images
    patch = status_patch(
        decision.state,
        kind=canary.spec.target_ref.kind,
        old_status=raw.get("status"),
        revision=revision,
        tracked=tracked,
        new_intents=intents,
        now=now,
    )
    patch["engine"]["stableImage"] = next(iter(stable_images.values()), None)
    # A merge patch merges maps: containers that are gone are removed with explicit nulls.
    recorded = ((raw.get("status") or {}).get("engine") or {}).get("stableImages") or {}
    gone: dict[str, str | None] = {name: None for name in recorded if name not in stable_images}
    patch["engine"]["stableImages"] = {**gone, **stable_images} or None
    await _correlate(kube, raw, workload, state, decision.state.last_applied_spec, patch, target)
    if reapplied_sha:  # answered once: the next tick compares Flux's revision with this one
        patch.setdefault("gitops", {})["introducedBy"] = reapplied_sha
    patch["conditions"] = _valid_condition(True, "Canary spec is valid", patch["conditions"], now)
    if world.autoscaler_note:
        patch["conditions"] = _note_condition("Autoscaler", world.autoscaler_note, patch["conditions"], now)
    if world.approval_status is not None:  # the approval pull request, in the same patch
        patch.setdefault("gitops", {})["approval"] = world.approval_status
    saved_request = saved_rollback_request(raw.get("status"))
    if world.rollback_request_consumed or (saved_request and saved_request != revision):
        patch["engine"][ROLLBACK_REQUEST] = None  # saved with the rollback it asked for, or stale
    await _patch_status(kube, raw, patch)
    for event_type, reason, message in world.events:  # the decision is saved: announce it once
        await record_event(kube, raw, event_type, reason, message)
    settings.alerts.send(kube, canary, raw, world.alerts)  # after the decision is saved
    await settle_retry(kube, raw, retry, revision)  # only once the tick is saved
    settings.slots.settle(canary.key, decision.state.phase.value)
    pending = bool(intents) or bool(((raw.get("status") or {}).get("gitops") or {}).get("pending"))
    return TickResult(decision.requeue_after, pending)
