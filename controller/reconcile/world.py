"""Performs the engine's requests against the cluster, the metric servers, webhooks and alerts.

One ``CanaryWorld`` serves one tick of one Canary. Its ``handle`` is the
driver the engine's generator talks to: it maps each request type to one
small method. Write-back decisions are not performed here; they are collected
as intents and persisted with the tick's status, in the same patch.

With ``spec.gitops.approval.mode: pullRequest`` the confirm-promotion and rollback requests are
also answered by the approval gate (``controller.gitops.workflow.approval_gate``): confirm-promotion is
open only when the spec's own hooks of that type pass AND the gate is open; a rollback is
requested when the gate or any rollback hook requests it. What the gate learnt about its pull
request is left in ``approval_status`` for the runner to persist in ``status.gitops.approval``.

Neither Events nor alerts are sent here: ``Notify`` collects the Event in ``events`` and the
alert in ``alerts``; once the status is saved, the runner records the Events and hands the alerts
to ``controller.reconcile.alerts.AlertOutbox``.

A manual rollback request (the ``gitcanary.io/rollback`` annotation) is saved in
``status.engine.rollbackRequest`` before the annotation is removed, and a request saved for this
revision answers the rollback hooks like the annotation would: a tick that fails after the
removal does not lose the request. ``rollback_request_consumed`` tells the runner to clear it in
the patch that saves the rollback.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from controller import analysis as eng
from controller.api import Canary, MetricTemplate, validate_metric_template
from controller.errors import PermanentError
from controller.events import EventType
from controller.gitops.workflow.approval import MetricRow
from controller.gitops.workflow.approval_gate import APPROVAL_HOOK, ApprovalGate, approval_enabled
from controller.hooks.gates import (
    ROLLBACK_ANNOTATION,
    ROLLBACK_CONSUMED_PATCH,
    ROLLBACK_REQUESTED,
    answer_hooks,
)
from controller.hooks.webhooks import WebhookPayload, WebhookSpec, send_event
from controller.kube import Kube
from controller.metrics.builtin import canary_context
from controller.metrics.checks import MetricCheck, MetricResult, TemplateSpec, describe, evaluate
from controller.metrics.errors import Outcome
from controller.metrics.providers.contract import ProviderConfig
from controller.metrics.providers.registry import provider_for
from controller.reconcile import spec_mapping
from controller.reconcile.alerts import PendingAlert
from controller.reconcile.slots import AnalysisSlots
from controller.reconcile.status import ROLLBACK_REQUEST, intents_for, patch_canary, saved_rollback_request
from controller.routers import Router
from controller.workloads.images import analysed_image, stable_images_of
from controller.workloads.target import TargetWorkload

log = logging.getLogger(__name__)
Obj = dict[str, Any]


class MissingReference(PermanentError, LookupError):
    """A MetricTemplate or Secret the Canary names does not exist."""


async def read_secret(kube: Kube, namespace: str, name: str) -> dict[str, str]:
    secret = await kube.get("v1", "Secret", namespace, name)
    if secret is None:
        raise MissingReference(f"secret {namespace}/{name} not found")
    return {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}


async def load_templates(kube: Kube, canary: Canary) -> dict[tuple[str, str], TemplateSpec]:
    out: dict[tuple[str, str], TemplateSpec] = {}
    namespace = canary.metadata.namespace or ""
    for metric in canary.spec.analysis.metrics:
        if metric.template_ref is None:
            continue
        key = (metric.template_ref.namespace or namespace, metric.template_ref.name)
        if key in out:
            continue
        raw = await kube.get("gitcanary.io/v1beta1", "MetricTemplate", *key)
        if raw is None:
            raise MissingReference(f"MetricTemplate {key[0]}/{key[1]} not found")
        problems = validate_metric_template(raw)
        if problems:  # a template this controller cannot query: Valid=False, never a failed check
            raise ValueError(f"MetricTemplate {key[0]}/{key[1]} is invalid: {'; '.join(problems)}")
        template = MetricTemplate.from_k8s(raw)
        provider = template.spec.provider
        secret = await read_secret(kube, key[0], provider.secret_ref.name) if provider.secret_ref else None
        config = ProviderConfig(
            type=provider.type,
            address=provider.address or "",
            insecure_skip_verify=provider.insecure_skip_verify,
            headers={k: tuple(v) for k, v in provider.headers.items()},
            region=provider.region or "",
            has_secret=secret is not None,
        )
        out[key] = TemplateSpec(
            name=key[1], namespace=key[0], provider=config, query=template.spec.query, secret=secret
        )
    return out


@dataclass
class CanaryWorld:
    kube: Kube
    canary: Canary
    raw: Obj
    workload: TargetWorkload
    router: Router
    revision: str
    metrics_server: str
    default_provider: str = "kubernetes"
    checks: list[MetricCheck] = field(default_factory=list)
    hooks: list[WebhookSpec] = field(default_factory=list)
    write_backs: list[eng.RequestWriteBack] = field(default_factory=list)
    phase: str = ""
    autoscaler_note: str = ""
    approval_status: Obj | None = None
    """``status.gitops.approval`` learnt by the approval gate this tick (None: nothing new)."""
    metric_results: tuple[MetricResult, ...] = ()
    _approval_gate: ApprovalGate | None = None
    slots: AnalysisSlots | None = None
    alerts: list[PendingAlert] = field(default_factory=list)
    """Alerts this tick's decision asks for, sent by the runner once the status is saved."""
    events: list[tuple[EventType, str, str]] = field(default_factory=list)
    """(type, reason, message) of this tick's Events, recorded by the runner once the status is
    saved: a tick decided again after a conflict must not announce its decision twice."""
    rollback_request_consumed: bool = False
    """A manual rollback request was acted on this tick (the runner clears the saved one)."""

    @property
    def name(self) -> str:
        return self.canary.metadata.name or ""

    @property
    def namespace(self) -> str:
        return self.canary.metadata.namespace or ""

    def _source(self) -> dict[str, str]:
        """The Flux revision under analysis and its commit, from ``status.gitops``."""
        gitops = (self.raw.get("status") or {}).get("gitops") or {}
        revision = str((gitops.get("source") or {}).get("revision") or "")
        return {"sourceRevision": revision, "introducedBy": str(gitops.get("introducedBy") or "")}

    def _payload(self, phase: str) -> WebhookPayload:
        return WebhookPayload(
            name=self.name,
            namespace=self.namespace,
            phase=phase,
            checksum=self.revision,
            source=self._source(),
        )

    async def handle(self, request: eng.Request) -> object:
        match request:
            case eng.InitializePrimary():
                note = await self.workload.initialize_primary()
                if note:
                    self.autoscaler_note = note
                await self.router.reconcile()
                return None
            case eng.CheckReady(target=target):
                threshold = self._ready_threshold(target)
                r = await self.workload.readiness(target, threshold)
                return eng.Readiness(r.ready, r.message, r.deadline_exceeded)
            case eng.CheckPrimaryPromoted():
                r = await self.workload.readiness("primary", self._ready_threshold("primary"))
                return eng.Readiness(r.ready, r.message, r.deadline_exceeded)
            case eng.ScaleCanary(to_zero=to_zero):
                await self.workload.scale_canary(to_zero)
                return None
            case eng.SetRoutes(primary_weight=p, canary_weight=c, mirrored=m):
                await self.router.set_routes(p, c, m)
                return None
            case eng.PromotePrimary():
                await self.workload.promote()
                return None
            case eng.RunWebhooks(hook_type=hook_type, phase=phase):
                gate = self._approval() if hook_type.value in ("confirm-promotion", "rollback") else None
                if gate is not None and hook_type.value == "rollback":
                    verdict = await gate.rollback()
                    self.approval_status = gate.status or self.approval_status
                    if verdict.ok:
                        return eng.HookOutcome(True, verdict.message, APPROVAL_HOOK)
                # gitcanary:gate / gitcanary:rollback hooks are answered from the annotations of
                # the Canary fetched for this tick (controller.hooks.gates); the rest go over HTTP.
                answer = await answer_hooks(
                    self.hooks,
                    hook_type.value,
                    self._payload(phase.value),
                    annotations=self._hook_annotations(),
                    revision=self.revision,
                )
                if answer.consumes_rollback:  # acted on now: save, then remove the request
                    await self._consume_rollback_request()
                if gate is not None and hook_type.value == "confirm-promotion" and answer.ok:
                    verdict = await gate.confirm()
                    self.approval_status = gate.status or self.approval_status
                    names = ",".join(n for n in (answer.webhook, APPROVAL_HOOK) if n)
                    return eng.HookOutcome(
                        verdict.ok, verdict.message, names if verdict.ok else APPROVAL_HOOK
                    )
                return eng.HookOutcome(answer.ok, answer.message, answer.webhook, answer.inconclusive)
            case eng.RunMetricChecks():
                return await self._run_metrics()
            case eng.Notify():
                await self._notify(request)
                return None
            case eng.AcquireSlot():
                return True if self.slots is None else self.slots.acquire(f"{self.namespace}/{self.name}")
            case eng.RequestWriteBack():
                self.write_backs.append(request)
                return None
        raise TypeError(f"unknown request {request!r}")

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
        """The approval gate of this tick (one per tick: it caches the PR it read)."""
        if not approval_enabled(self.raw):
            return None
        if self._approval_gate is None:
            passed = [r for r in self.metric_results if r.ok]
            summary = (
                f"{len(passed)}/{len(self.metric_results)} metric checks passed at the last analysis."
                if self.metric_results
                else "The canary analysis passed."
            )
            self._approval_gate = ApprovalGate(
                kube=self.kube,
                canary=self.raw,
                revision=self.revision,
                promotion_intent=self._promotion_intent,
                summary=summary,
                metrics=self._metric_rows(),
                now=time.time(),
            )
        return self._approval_gate

    def _metric_rows(self) -> list[MetricRow]:
        bounds = {c.name: (c.threshold_min, c.threshold_max) for c in self.checks}
        return [MetricRow(r.name, r.value, *bounds.get(r.name, (None, None))) for r in self.metric_results]

    async def _promotion_intent(self) -> Obj:
        """The promotion intent the runner will queue once promoted (same deterministic id)."""

        target, primary = await self.workload.fetch(), await self.workload.fetch_primary()
        image = analysed_image(target, primary, stable_images_of(self.raw.get("status"), target))
        request = eng.RequestWriteBack("promoted", self.revision, self._approval_gate_summary())
        return intents_for(
            self.canary.key, [request], image.target, image.primary, time.time(), image.stable
        )[0]

    def _approval_gate_summary(self) -> str:
        return self._approval_gate.summary if self._approval_gate is not None else ""

    def _ready_threshold(self, target: str) -> int:
        analysis = self.canary.spec.analysis
        if target == "primary":
            return analysis.effective_primary_ready_threshold()
        return analysis.effective_canary_ready_threshold()

    async def _run_metrics(self) -> eng.MetricsOutcome:
        if not self.checks:
            return eng.MetricsOutcome(True)
        context = canary_context(self.name, self.namespace, self.canary.spec, self.checks[0].interval)
        server = provider_for(ProviderConfig(type="prometheus", address=self.metrics_server))
        results = await evaluate(
            self.checks,
            context,
            metrics_server=server,
            router=spec_mapping.provider_name(self.canary, self.default_provider),
            # externalmetrics and keptn read the cluster through the controller's own client
            provider_factory=lambda t, interval: provider_for(
                t.provider, t.secret, interval=interval, kube=self.kube
            ),
        )
        # The engine words the halt ("Halt podinfo.test advancement ..."); keep only the detail.
        prefix = f"Halt {self.name}.{self.namespace} advancement "
        self.metric_results = tuple(results)  # for the approval pull request's metrics table
        failures = tuple(describe(r, prefix) for r in results if r.outcome is Outcome.FAILED)
        unmeasured = tuple(describe(r, prefix) for r in results if r.outcome is Outcome.INCONCLUSIVE)
        return eng.MetricsOutcome(not failures and not unmeasured, failures, unmeasured)

    async def _notify(self, request: eng.Notify) -> None:
        event_type: EventType = "Normal" if request.severity == "info" else "Warning"
        self.events.append((event_type, request.reason, request.message))  # recorded once saved
        log.info("%s/%s: %s", self.namespace, self.name, request.message)
        if any(h.type == "event" for h in self.hooks):
            await send_event(
                self.hooks, self._payload(self.phase), event_message=request.message, event_type=event_type
            )
        if request.alert:  # best-effort, after the status patch: see controller.reconcile.alerts
            self.alerts.append(PendingAlert(request.alert, request.severity))


def now_rfc3339(now: float) -> str:
    return dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
