"""Gate effects: the Canary's webhooks, the builtin gates, a manual rollback and the approval PR.

- ``gitcanary:gate`` / ``gitcanary:rollback`` hooks are answered from the annotations of the Canary
  fetched for this tick (``controller.hooks.gates``); the other hooks go over HTTP;
- with ``spec.gitops.approval.mode: pullRequest`` confirm-promotion is open only when the spec's
  own hooks of that type pass AND the approval gate is open; a rollback is requested when the
  gate or any rollback hook requests it (``controller.gitops.workflow.approval_gate``). What the
  gate learnt about its pull request is left in ``approval_status`` for the runner to persist;
- a manual rollback request (the ``gitcanary.io/rollback`` annotation) is saved in
  ``status.engine.rollbackRequest`` before the annotation is removed, and a request saved for
  this revision answers the rollback hooks like the annotation would: a tick that fails after the
  removal does not lose the request. ``rollback_request_consumed`` tells the runner to clear it
  in the patch that saves the rollback.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from controller import analysis as eng
from controller.api import Canary
from controller.gitops.workflow.approval_gate import APPROVAL_HOOK, ApprovalGate, approval_enabled
from controller.hooks.gates import (
    ROLLBACK_ANNOTATION,
    ROLLBACK_CONSUMED_PATCH,
    ROLLBACK_REQUESTED,
    answer_hooks,
)
from controller.hooks.webhooks import WebhookSpec
from controller.kube import Kube
from controller.reconcile.effects.metrics import MetricEffects
from controller.reconcile.effects.payload import webhook_payload
from controller.reconcile.status import ROLLBACK_REQUEST, patch_canary, saved_rollback_request

Obj = dict[str, Any]
PromotionIntent = Callable[[str], Awaitable[Obj]]
"""The promotion intent the runner will queue once promoted, given the approval summary."""

APPROVAL_HOOK_TYPES = ("confirm-promotion", "rollback")


@dataclass
class GateEffects:
    kube: Kube
    canary: Canary
    raw: Obj
    revision: str
    hooks: list[WebhookSpec]
    metrics: MetricEffects
    """The tick's metric results, for the approval pull request's summary and table."""
    promotion_intent: PromotionIntent
    approval_status: Obj | None = None
    """``status.gitops.approval`` learnt by the approval gate this tick (None: nothing new)."""
    rollback_request_consumed: bool = False
    """A manual rollback request was acted on this tick (the runner clears the saved one)."""
    _approval_gate: ApprovalGate | None = field(default=None, init=False)

    async def run_webhooks(self, hook: eng.HookType, phase: eng.Phase) -> eng.HookOutcome:
        hook_type = hook.value
        gate = self._approval() if hook_type in APPROVAL_HOOK_TYPES else None
        if gate is not None and hook_type == "rollback":
            verdict = await gate.rollback()
            self.approval_status = gate.status or self.approval_status
            if verdict.ok:
                return eng.HookOutcome(True, verdict.message, APPROVAL_HOOK)
        answer = await answer_hooks(
            self.hooks,
            hook.value,
            webhook_payload(self.canary, self.raw.get("status"), self.revision, phase.value),
            annotations=self._hook_annotations(),
            revision=self.revision,
        )
        if answer.consumes_rollback:  # acted on now: save, then remove the request
            await self._consume_rollback_request()
        if gate is not None and hook_type == "confirm-promotion" and answer.ok:
            verdict = await gate.confirm()
            self.approval_status = gate.status or self.approval_status
            names = ",".join(n for n in (answer.webhook, APPROVAL_HOOK) if n)
            return eng.HookOutcome(verdict.ok, verdict.message, names if verdict.ok else APPROVAL_HOOK)
        return eng.HookOutcome(answer.ok, answer.message, answer.webhook, answer.inconclusive)

    def _hook_annotations(self) -> dict[str, str]:
        """The annotations the builtin hooks read, with a rollback request saved for this revision."""
        annotations = dict(self.raw["metadata"].get("annotations") or {})
        if saved_rollback_request(self.raw.get("status")) == self.revision:
            annotations[ROLLBACK_ANNOTATION] = ROLLBACK_REQUESTED
        return annotations

    async def _consume_rollback_request(self) -> None:
        """Save the request in the status first, then remove the annotation (both idempotent)."""
        self.rollback_request_consumed = True
        if saved_rollback_request(self.raw.get("status")) != self.revision:
            await patch_canary(self.kube, self.raw, {"status": {"engine": {ROLLBACK_REQUEST: self.revision}}})
        annotations = self.raw["metadata"].get("annotations") or {}
        if ROLLBACK_ANNOTATION in annotations:
            await patch_canary(self.kube, self.raw, ROLLBACK_CONSUMED_PATCH, subresource="")
            annotations.pop(ROLLBACK_ANNOTATION, None)

    def _approval(self) -> ApprovalGate | None:
        """The approval gate of this tick (one per tick: it caches the pull request it read)."""
        if not approval_enabled(self.canary):
            return None
        if self._approval_gate is None:
            summary = self.metrics.summary()
            self._approval_gate = ApprovalGate(
                kube=self.kube,
                canary=self.raw,
                revision=self.revision,
                promotion_intent=lambda: self.promotion_intent(summary),
                summary=summary,
                metrics=self.metrics.rows(),
                now=time.time(),
            )
        return self._approval_gate
