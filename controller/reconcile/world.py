"""One tick's effects: the driver the engine's generator talks to.

``CanaryWorld`` serves one tick of one Canary. Its ``handle`` maps each engine request to one
effect handler (``controller.reconcile.effects``): workloads, routes, metrics, gates and
notifications. Write-back decisions are not performed here; they are collected as intents and
persisted with the tick's status, in the same patch. What the handlers learnt (Events and alerts
to send once the status is saved, the approval pull request, a consumed rollback request, the
autoscaler note) is read back by the runner through the properties below.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from controller import analysis as eng
from controller.api import Canary
from controller.events import EventType
from controller.hooks.webhooks import WebhookSpec
from controller.kube import Kube
from controller.metrics.checks import MetricCheck
from controller.reconcile.alerts import PendingAlert
from controller.reconcile.effects.gates import GateEffects
from controller.reconcile.effects.metrics import MetricEffects, MissingReference, load_templates, read_secret
from controller.reconcile.effects.notifications import NotificationEffects
from controller.reconcile.effects.routes import RouteEffects
from controller.reconcile.effects.workloads import WorkloadEffects
from controller.reconcile.slots import AnalysisSlots
from controller.reconcile.status import intents_for
from controller.routers import Router
from controller.workloads.images import analysed_image, stable_images_of
from controller.workloads.target import TargetWorkload

__all__ = ["CanaryWorld", "MissingReference", "load_templates", "read_secret"]

Obj = dict[str, Any]


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
    phase: str = ""
    slots: AnalysisSlots | None = None
    write_backs: list[eng.RequestWriteBack] = field(default_factory=list)
    """The decisions to write back to Git, queued as intents in the tick's status patch."""

    def __post_init__(self) -> None:
        self.workloads = WorkloadEffects(self.workload, self.canary.spec.analysis)
        self.routes = RouteEffects(self.router)
        self.metrics = MetricEffects(
            self.kube, self.canary, self.checks, self.metrics_server, self.default_provider
        )
        self.gates = GateEffects(
            self.kube, self.canary, self.raw, self.revision, self.hooks, self.metrics, self._promotion_intent
        )
        self.notifications = NotificationEffects(
            self.canary, self.raw.get("status"), self.revision, self.hooks, self.phase
        )

    async def handle(self, request: eng.Request) -> object:
        match request:
            case eng.InitializePrimary():
                await self.workloads.initialize_primary()
                await self.routes.reconcile()
                return None
            case eng.CheckReady(target=target):
                return await self.workloads.readiness(target)
            case eng.CheckPrimaryPromoted():
                return await self.workloads.readiness("primary")
            case eng.ScaleCanary(to_zero=to_zero):
                await self.workloads.scale_canary(to_zero)
                return None
            case eng.SetRoutes():
                await self.routes.set_routes(request)
                return None
            case eng.PromotePrimary():
                await self.workloads.promote()
                return None
            case eng.RunWebhooks(hook_type=hook_type, phase=phase):
                return await self.gates.run_webhooks(hook_type, phase)
            case eng.RunMetricChecks():
                return await self.metrics.run()
            case eng.Notify():
                await self.notifications.notify(request)
                return None
            case eng.AcquireSlot():
                return True if self.slots is None else self.slots.acquire(self.canary.key)
            case eng.RequestWriteBack():
                self.write_backs.append(request)
                return None
        raise TypeError(f"unknown request {request!r}")

    async def _promotion_intent(self, summary: str) -> Obj:
        """The promotion intent the runner will queue once promoted (same deterministic id)."""
        target, primary = await self.workload.fetch(), await self.workload.fetch_primary()
        image = analysed_image(target, primary, stable_images_of(self.raw.get("status"), target))
        request = eng.RequestWriteBack("promoted", self.revision, summary)
        return intents_for(
            self.canary.key, [request], image.target, image.primary, time.time(), image.stable
        )[0]

    # -- what the tick learnt, for the runner's status patch and announcements -----------------

    @property
    def events(self) -> list[tuple[EventType, str, str]]:
        return self.notifications.events

    @property
    def alerts(self) -> list[PendingAlert]:
        return self.notifications.alerts

    @property
    def approval_status(self) -> Obj | None:
        return self.gates.approval_status

    @property
    def rollback_request_consumed(self) -> bool:
        return self.gates.rollback_request_consumed

    @property
    def autoscaler_note(self) -> str:
        return self.workloads.autoscaler_note
