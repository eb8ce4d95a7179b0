"""The tick's effect handlers, one by one (``controller.reconcile.effects``).

Workloads and routes are driven through recording stand-ins (what is under test is the mapping
from an engine request to the call); metrics query a real HTTP server speaking Prometheus's API;
gates and notifications use the in-memory API server and real HTTP webhooks on 127.0.0.1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from memory_kube import MemoryKube

from controller import analysis as eng
from controller.api import Canary
from controller.hooks.gates import ROLLBACK_ANNOTATION
from controller.kube import Kube
from controller.reconcile import spec_mapping
from controller.reconcile.alerts import PendingAlert
from controller.reconcile.effects.gates import GateEffects
from controller.reconcile.effects.metrics import MetricEffects, MissingReference, load_templates
from controller.reconcile.effects.notifications import NotificationEffects
from controller.reconcile.effects.payload import flux_source
from controller.reconcile.effects.routes import RouteEffects
from controller.reconcile.effects.workloads import WorkloadEffects
from controller.routers import Router
from controller.workloads.target import TargetWorkload
from tests.builders import canary, metric_template, secret
from tests.recording_http import RecordingServer, Reply

Obj = dict[str, Any]
NS = "test"


@dataclass
class Readiness:
    ready: bool
    message: str
    deadline_exceeded: bool


@dataclass
class RecordingWorkload:
    note: str = ""
    calls: list[tuple[Any, ...]] = field(default_factory=list)

    async def initialize_primary(self) -> str:
        self.calls.append(("initialize_primary",))
        return self.note

    async def readiness(self, target: str, threshold: int) -> Readiness:
        self.calls.append(("readiness", target, threshold))
        return Readiness(target == "primary", f"{target} checked", target == "canary")

    async def scale_canary(self, to_zero: bool) -> None:
        self.calls.append(("scale_canary", to_zero))

    async def promote(self) -> None:
        self.calls.append(("promote",))


@dataclass
class RecordingRouter:
    calls: list[tuple[Any, ...]] = field(default_factory=list)

    async def reconcile(self) -> None:
        self.calls.append(("reconcile",))

    async def set_routes(self, primary: int, canary_: int, mirrored: bool = False) -> None:
        self.calls.append(("set_routes", primary, canary_, mirrored))


def parsed(raw: Obj) -> Canary:
    return Canary.from_k8s(raw)


def with_analysis(raw: Obj, **analysis: Any) -> Obj:
    raw["spec"]["analysis"].update(analysis)
    return raw


# -- workloads -----------------------------------------------------------------------------------


async def test_workload_effects_use_each_targets_ready_threshold_and_keep_the_autoscaler_note() -> None:
    model = parsed(with_analysis(canary(NS, "podinfo"), canaryReadyThreshold=80, primaryReadyThreshold=90))
    workload = RecordingWorkload(note="KEDA ScaledObject keda.sh/v1alpha1")
    effects = WorkloadEffects(cast(TargetWorkload, workload), model.spec.analysis)

    await effects.initialize_primary()
    canary_ready = await effects.readiness("canary")
    primary_ready = await effects.readiness("primary")
    await effects.scale_canary(True)
    await effects.promote()

    assert effects.autoscaler_note == "KEDA ScaledObject keda.sh/v1alpha1"
    assert canary_ready == eng.Readiness(False, "canary checked", True)
    assert primary_ready == eng.Readiness(True, "primary checked", False)
    assert workload.calls == [
        ("initialize_primary",),
        ("readiness", "canary", 80),
        ("readiness", "primary", 90),
        ("scale_canary", True),
        ("promote",),
    ]


async def test_a_primary_without_an_autoscaler_note_leaves_none() -> None:
    effects = WorkloadEffects(
        cast(TargetWorkload, RecordingWorkload()), parsed(canary(NS, "p")).spec.analysis
    )
    await effects.initialize_primary()
    assert effects.autoscaler_note == ""


# -- routes --------------------------------------------------------------------------------------


async def test_route_effects_pass_the_weights_and_the_mirror_flag_through() -> None:
    router = RecordingRouter()
    effects = RouteEffects(cast(Router, router))
    await effects.reconcile()
    await effects.set_routes(eng.SetRoutes(primary_weight=70, canary_weight=30, mirrored=True))
    assert router.calls == [("reconcile",), ("set_routes", 70, 30, True)]


# -- metrics -------------------------------------------------------------------------------------


def prometheus_answer(value: str) -> Reply:
    return Reply(
        body={
            "status": "success",
            "data": {"resultType": "vector", "result": [{"metric": {}, "value": [0, value]}]},
        }
    )


async def metric_effects(kube: MemoryKube, raw: Obj) -> MetricEffects:
    model = parsed(raw)
    templates = await load_templates(cast(Kube, kube), model)
    checks = spec_mapping.metric_checks(model, templates)
    return MetricEffects(cast(Kube, kube), model, checks, metrics_server="http://127.0.0.1:9")


@pytest.mark.parametrize(
    ("value", "ok", "failed", "unmeasured"),
    [("0.5", True, 0, 0), ("7", False, 1, 0), ("NaN", False, 0, 1)],
    ids=["in-range", "out-of-range", "non-finite"],
)
async def test_metric_effects_tell_failed_from_unmeasured(
    http_server: RecordingServer, value: str, ok: bool, failed: int, unmeasured: int
) -> None:
    http_server.reply_with(prometheus_answer(value))
    kube = MemoryKube(metric_template(NS, "error-rate", http_server.url))
    effects = await metric_effects(kube, canary(NS, "podinfo", max_error=1))
    outcome = await effects.run()
    assert (outcome.ok, len(outcome.failures), len(outcome.inconclusive)) == (ok, failed, unmeasured), outcome
    assert [r.name for r in effects.results] == ["error-rate"]
    assert effects.rows()[0].name == "error-rate" and effects.rows()[0].max == 1
    assert len(http_server.requests) == 1


async def test_an_unreachable_metric_server_is_unmeasured_not_failed(http_server: RecordingServer) -> None:
    http_server.reply_with(Reply(status=503, body="down"))
    kube = MemoryKube(metric_template(NS, "error-rate", http_server.url))
    outcome = await (await metric_effects(kube, canary(NS, "podinfo"))).run()
    assert not outcome.ok and outcome.failures == () and len(outcome.inconclusive) == 1


async def test_no_checks_pass_without_a_query() -> None:
    effects = await metric_effects(MemoryKube(), canary(NS, "podinfo", template=None))
    assert await effects.run() == eng.MetricsOutcome(True)
    assert effects.summary() == "The canary analysis passed."


async def test_a_missing_template_or_secret_is_a_missing_reference() -> None:
    with pytest.raises(MissingReference, match="MetricTemplate test/error-rate not found"):
        await load_templates(cast(Kube, MemoryKube()), parsed(canary(NS, "podinfo")))
    template = metric_template(NS, "error-rate", "http://127.0.0.1:9")
    template["spec"]["provider"]["secretRef"] = {"name": "prom-auth"}
    with pytest.raises(MissingReference, match="secret test/prom-auth not found"):
        await load_templates(cast(Kube, MemoryKube(template)), parsed(canary(NS, "podinfo")))
    found = await load_templates(
        cast(Kube, MemoryKube(template, secret(NS, "prom-auth", {"token": "czNjcjN0"}))),
        parsed(canary(NS, "podinfo")),
    )
    assert found[(NS, "error-rate")].secret == {"token": "s3cr3t"}


# -- gates ---------------------------------------------------------------------------------------


def hooked(*hooks: Obj, annotations: dict[str, str] | None = None, status: Obj | None = None) -> Obj:
    raw = canary(NS, "podinfo", template=None)
    raw["metadata"]["annotations"] = annotations or {}
    raw["spec"]["analysis"]["webhooks"] = list(hooks)
    raw["status"] = status or {"phase": "Progressing"}
    return raw


async def gate_effects(kube: MemoryKube, raw: Obj, revision: str = "rev-b") -> GateEffects:
    model = parsed(raw)
    metrics = MetricEffects(cast(Kube, kube), model, [], "")

    async def no_promotion(summary: str) -> Obj:
        raise AssertionError("no approval gate is configured")

    return GateEffects(
        cast(Kube, kube), model, raw, revision, spec_mapping.webhooks(model), metrics, no_promotion
    )


async def test_a_webhook_gets_the_tick_payload_and_its_answer_is_the_verdict(
    http_server: RecordingServer,
) -> None:
    http_server.reply_with(
        lambda r: Reply(status=403 if cast(Obj, r.json())["phase"] == "Progressing" else 200)
    )
    status = {
        "phase": "Progressing",
        "gitops": {"source": {"revision": "main@sha1:abc"}, "introducedBy": "abc"},
    }
    raw = hooked({"name": "check", "type": "pre-rollout", "url": http_server.url + "/gate"}, status=status)
    effects = await gate_effects(MemoryKube(raw), raw)

    outcome = await effects.run_webhooks(eng.HookType.PRE_ROLLOUT, eng.Phase.PROGRESSING)
    assert not outcome.ok and outcome.webhook == "check" and not outcome.inconclusive
    sent = cast(Obj, http_server.requests[0].json())
    assert (sent["name"], sent["namespace"], sent["checksum"]) == ("podinfo", NS, "rev-b")
    assert flux_source(status) == {"sourceRevision": "main@sha1:abc", "introducedBy": "abc"}

    assert (await effects.run_webhooks(eng.HookType.PRE_ROLLOUT, eng.Phase.WAITING)).ok


async def test_an_unreachable_webhook_is_inconclusive(http_server: RecordingServer) -> None:
    http_server.reply_with(Reply(status=503))
    raw = hooked({"name": "check", "type": "pre-rollout", "url": http_server.url + "/gate"})
    outcome = await (await gate_effects(MemoryKube(raw), raw)).run_webhooks(
        eng.HookType.PRE_ROLLOUT, eng.Phase.PROGRESSING
    )
    assert not outcome.ok and outcome.inconclusive


async def test_a_manual_rollback_is_saved_then_its_annotation_removed() -> None:
    raw = hooked(
        {"name": "manual", "type": "rollback", "url": "gitcanary:rollback"},
        annotations={ROLLBACK_ANNOTATION: "requested"},
    )
    kube = MemoryKube(raw)
    live = await kube.get("gitcanary.io/v1beta1", "Canary", NS, "podinfo")
    assert live is not None
    effects = await gate_effects(kube, live)
    outcome = await effects.run_webhooks(eng.HookType.ROLLBACK, eng.Phase.PROGRESSING)
    assert outcome.ok and effects.rollback_request_consumed
    assert [sub for _, sub, _ in kube.patches] == ["status", ""]
    assert effects.approval_status is None, "no approval gate without approval.mode: pullRequest"


# -- notifications -------------------------------------------------------------------------------


async def test_notifications_collect_events_and_alerts_and_send_event_webhooks(
    http_server: RecordingServer,
) -> None:
    http_server.reply_with(Reply(status=500))  # an event webhook failing is best-effort
    raw = hooked({"name": "audit", "type": "event", "url": http_server.url + "/events"})
    model = parsed(raw)
    effects = NotificationEffects(model, raw["status"], "rev-b", spec_mapping.webhooks(model), "Progressing")

    await effects.notify(eng.Notify("New revision detected! Scaling up podinfo.test"))
    await effects.notify(
        eng.Notify("Rolling back podinfo.test", "error", alert="Failed checks threshold reached 2")
    )

    assert effects.events == [
        ("Normal", "Synced", "New revision detected! Scaling up podinfo.test"),
        ("Warning", "Synced", "Rolling back podinfo.test"),
    ]
    assert effects.alerts == [PendingAlert("Failed checks threshold reached 2", "error")]
    sent = [cast(Obj, r.json()) for r in http_server.requests if r.path == "/events"]
    assert [s["metadata"]["eventMessage"] for s in sent[:1]] == [
        "New revision detected! Scaling up podinfo.test"
    ]
    assert {s["metadata"]["eventType"] for s in sent} == {"Normal", "Warning"}


async def test_notifications_without_event_webhooks_send_nothing(http_server: RecordingServer) -> None:
    raw = hooked()
    model = parsed(raw)
    effects = NotificationEffects(model, raw["status"], "rev-b", [], "Progressing")
    await effects.notify(eng.Notify("Advance podinfo.test canary weight 10"))
    assert http_server.requests == [] and effects.alerts == []
    assert effects.events == [("Normal", "Synced", "Advance podinfo.test canary weight 10")]
