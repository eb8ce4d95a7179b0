"""One reconcile of one Canary: validate, decide, queue write-backs, save the status, announce.

The steps after validation are named in ``controller.reconcile.steps``.

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

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from controller.api import Canary
from controller.api.parsed import checked_canary
from controller.api.status import StatusShapeError
from controller.errors import PERMANENT, TemporaryError
from controller.events import record_event
from controller.kube import Kube, shared_reads
from controller.reconcile.alerts import AlertOutbox
from controller.reconcile.retry_request import settle_retry
from controller.reconcile.slots import AnalysisSlots
from controller.reconcile.status import (
    CANARY_API,
    StatusConflict,
    merge_changes,
    patch_canary,
)
from controller.reconcile.steps import (
    VALID,
    Decided,
    decide,
    status_after,
    valid_condition,
    write_back_enabled,
    write_back_intents,
)
from controller.tenancy import TenancySettings, refused_references

log = logging.getLogger(__name__)
Obj = dict[str, Any]

__all__ = ["CANARY_API", "ReconcileSettings", "TickResult", "reconcile_canary", "write_back_enabled"]

INVALID_RETRY_S = 300.0
ERROR_RETRY_S = 10.0
CONFLICT_ATTEMPTS = 3
"""Ticks decided (from a fresh read each) before a conflicting writer is reported."""


@dataclass(frozen=True)
class TickResult:
    """When to tick again, and whether write-back intents wait in the status."""

    delay: float
    pending_write_back: bool = False


@dataclass(frozen=True)
class ReconcileSettings:
    metrics_server: str = "http://prometheus.istio-system:9090"
    default_provider: str = "kubernetes"
    slots: AnalysisSlots = field(default_factory=AnalysisSlots)
    alerts: AlertOutbox = field(default_factory=AlertOutbox)


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
    await _patch_status(kube, raw, {"conditions": valid_condition(False, message, old, now)})


async def _accepted(kube: Kube, raw: Obj, now: float) -> Canary | None:
    """The parsed Canary; None once an invalid spec or a refused reference is reported."""
    problems, canary = checked_canary(raw)  # validated and parsed once per generation
    if problems or canary is None:
        await _report_problem(kube, raw, "InvalidSpec", "invalid Canary: " + "; ".join(problems), now)
        return None
    refused = refused_references(canary, TenancySettings.from_env())
    if refused:  # a template or provider elsewhere would lend that namespace's Secrets
        await _report_problem(kube, raw, "CrossNamespaceRefused", "; ".join(refused), now)
        return None
    return canary


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
    """Validate, decide, queue the write-backs, save the status, then announce."""
    canary = await _accepted(kube, raw, now)
    if canary is None:
        return TickResult(INVALID_RETRY_S)
    try:
        decided = await decide(
            kube,
            raw,
            canary,
            metrics_server=settings.metrics_server,
            default_provider=settings.default_provider,
            slots=settings.slots,
            now=now,
        )
    except StatusConflict:
        raise  # decided again by reconcile_canary
    except PERMANENT as exc:
        await _report_problem(kube, raw, "ReconcileFailed", str(exc), now)
        return TickResult(ERROR_RETRY_S)
    except TemporaryError as exc:
        log.warning("%s: %s, retrying: %s", canary.key, type(exc).__name__, exc)
        await record_event(kube, raw, "Warning", "ReconcileFailed", str(exc))
        return TickResult(exc.delay)
    intents, reapplied_sha = await write_back_intents(kube, raw, canary, decided, now)
    patch = await status_after(kube, raw, canary, decided, intents, reapplied_sha, now)
    try:
        await _patch_status(kube, raw, patch)
    except StatusShapeError as exc:  # a defect: the decision is not saved, and says why
        log.error("%s: %s", canary.key, exc)
        await record_event(kube, raw, "Warning", "StatusRefused", str(exc))
        return TickResult(ERROR_RETRY_S)
    await _announce(kube, raw, canary, decided, settings)
    pending = bool(intents) or bool(((raw.get("status") or {}).get("gitops") or {}).get("pending"))
    return TickResult(decided.decision.requeue_after, pending)


async def _announce(
    kube: Kube, raw: Obj, canary: Canary, decided: Decided, settings: ReconcileSettings
) -> None:
    """Once the decision is saved: its Events, its alerts (in the background), the retry
    annotation answered, and the analysis slot released when the Canary is done."""
    for event_type, reason, message in decided.world.events:
        await record_event(kube, raw, event_type, reason, message)
    settings.alerts.send(kube, canary, raw, decided.world.alerts)
    await settle_retry(kube, raw, decided.retry, decided.revision)
    settings.slots.settle(canary.key, decided.phase)
