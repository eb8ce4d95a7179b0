"""The Canary status -> Flagger-compatible series mapping (controller.canary_metrics)."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from controller import telemetry
from controller.canary_metrics import CanarySeries, Families, deployment_strategy, status_value
from tests.builders import canary

NS = "test"
STARTED = 1_700_000_000.0  # the process start of the series under test
BEFORE, AFTER = "2023-11-14T22:00:00Z", "2023-11-14T22:20:00Z"  # either side of STARTED


def _canary(phase: str | None = None, **status: Any) -> dict[str, Any]:
    obj = canary(NS, "podinfo", step_weight=10, max_weight=50)
    obj["spec"]["targetRef"]["name"] = "podinfo-app"  # Flagger labels series by the target's name
    obj["status"] = {"phase": phase, **status} if phase else status
    return obj


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def series(registry: CollectorRegistry) -> CanarySeries:
    return CanarySeries(Families.create(registry), STARTED)


def _value(registry: CollectorRegistry, family: str, /, **labels: str) -> float | None:
    return registry.get_sample_value(family, labels)


def _names(registry: CollectorRegistry) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    return {
        (s.name, tuple(sorted(s.labels.items())))
        for family in registry.collect()
        for s in family.samples
        if not s.name.endswith("_created")
    }


@pytest.mark.parametrize(
    ("phase", "value"),
    [
        ("Progressing", 0),
        ("Failed", 2),
        ("Succeeded", 1),
        ("Initialized", 1),
        ("WaitingPromotion", 1),
        ("Promoting", 1),
        ("Finalising", 1),
        (None, 1),
    ],
)
def test_status_values_follow_flaggers_recorder(phase: str | None, value: int) -> None:
    assert status_value(phase) == value


def test_status_weight_and_total_from_the_persisted_status(
    series: CanarySeries, registry: CollectorRegistry
) -> None:
    series.observe(_canary("Progressing", canaryWeight=30))
    target = {"name": "podinfo-app", "namespace": NS}
    assert _value(registry, "gitcanary_canary_status", **target) == 0
    assert _value(registry, "gitcanary_canary_weight", workload="podinfo-app", namespace=NS) == 30
    assert _value(registry, "gitcanary_canary_weight", workload="podinfo-app-primary", namespace=NS) == 70
    assert _value(registry, "gitcanary_canary_total", namespace=NS) == 1
    other = _canary("Initialized")
    other["metadata"]["name"], other["spec"]["targetRef"]["name"] = "other", "other"
    series.observe(other)
    assert _value(registry, "gitcanary_canary_total", namespace=NS) == 2
    assert _value(registry, "gitcanary_canary_status", name="other", namespace=NS) == 1


def test_weights_are_the_recorded_routes_when_the_engine_has_them(
    series: CanarySeries, registry: CollectorRegistry
) -> None:
    # Blue/green promotion: canaryWeight stays 0 while all traffic goes to the canary.
    series.observe(
        _canary("Promoting", canaryWeight=0, engine={"primaryRouteWeight": 0, "canaryRouteWeight": 100})
    )
    assert _value(registry, "gitcanary_canary_weight", workload="podinfo-app", namespace=NS) == 100
    assert _value(registry, "gitcanary_canary_weight", workload="podinfo-app-primary", namespace=NS) == 0


def _outcomes(registry: CollectorRegistry, kind: str) -> float | None:
    return _value(
        registry,
        f"gitcanary_canary_{kind}_total",
        name="podinfo-app",
        namespace=NS,
        deployment_strategy="canary",
        analysis_status="completed",
    )


def test_a_terminal_transition_counts_once_however_often_it_is_seen(
    series: CanarySeries, registry: CollectorRegistry
) -> None:
    series.observe(_canary("Progressing", lastTransitionTime=AFTER))
    assert (_outcomes(registry, "failures"), _outcomes(registry, "successes")) == (
        0,
        0,
    )  # rate() sees the first
    failed = _canary("Failed", lastTransitionTime="2023-11-14T22:21:00Z")
    for _ in range(5):  # every later tick and write-back patch shows the same Failed status
        series.observe(failed)
    assert _outcomes(registry, "failures") == 1
    assert _value(registry, "gitcanary_canary_status", name="podinfo-app", namespace=NS) == 2
    series.observe(_canary("Progressing", lastTransitionTime="2023-11-14T22:30:00Z"))
    series.observe(_canary("Succeeded", lastTransitionTime="2023-11-14T22:35:00Z"))
    series.observe(_canary("Succeeded", lastTransitionTime="2023-11-14T22:35:00Z"))
    assert _outcomes(registry, "successes") == 1
    assert _outcomes(registry, "failures") == 1
    # Succeeded again, from one status straight to the next (the intermediate one not seen).
    series.observe(_canary("Succeeded", lastTransitionTime="2023-11-14T22:50:00Z"))
    assert _outcomes(registry, "successes") == 2


def test_after_a_restart_only_transitions_made_since_the_start_count(
    series: CanarySeries, registry: CollectorRegistry
) -> None:
    series.observe(_canary("Failed", lastTransitionTime=BEFORE))  # the previous process counted it
    assert _outcomes(registry, "failures") == 0
    assert _value(registry, "gitcanary_canary_status", name="podinfo-app", namespace=NS) == 2
    other = _canary("Succeeded", lastTransitionTime=AFTER)  # decided while this process ran
    other["metadata"]["name"], other["spec"]["targetRef"]["name"] = "other", "other"
    series.observe(other)
    labels = {"deployment_strategy": "canary", "analysis_status": "completed"}
    assert _value(registry, "gitcanary_canary_successes_total", name="other", namespace=NS, **labels) == 1


def test_strategy_and_skipped_analysis_labels() -> None:
    assert deployment_strategy({"analysis": {"iterations": 5}}) == "blue-green"
    assert deployment_strategy({"analysis": {"iterations": 5, "match": [{"headers": {}}]}}) == "ab-testing"
    assert deployment_strategy({"analysis": {"stepWeight": 10}}) == "canary"
    assert deployment_strategy({"canaryAnalysis": {"iterations": 2}}) == "blue-green"


def test_a_skipped_analysis_is_a_skipped_success(series: CanarySeries, registry: CollectorRegistry) -> None:
    skipped = _canary("Succeeded", lastTransitionTime=AFTER)
    skipped["spec"]["skipAnalysis"] = True
    series.observe(_canary("Progressing", lastTransitionTime=AFTER))
    series.observe(skipped)
    labels = {"name": "podinfo-app", "namespace": NS, "deployment_strategy": "canary"}
    assert _value(registry, "gitcanary_canary_successes_total", analysis_status="skipped", **labels) == 1


@pytest.mark.parametrize(
    ("status", "spec", "observed"),
    [
        ({"phase": "Progressing", "failedChecks": 0}, {}, True),
        ({"phase": "WaitingPromotion", "failedChecks": 1}, {}, True),
        ({"phase": "Progressing", "failedChecks": 2}, {}, False),  # threshold 2 reached: a rollback
        ({"phase": "Progressing"}, {"suspend": True}, False),
        ({"phase": "Progressing"}, {"skipAnalysis": True}, False),
        ({"phase": "Promoting"}, {}, False),
        ({"phase": "Succeeded"}, {}, False),
        ({"phase": "Waiting"}, {}, False),
    ],
)
def test_duration_is_observed_for_analysis_steps_only(
    series: CanarySeries,
    registry: CollectorRegistry,
    status: dict[str, Any],
    spec: dict[str, Any],
    observed: bool,
) -> None:
    obj = _canary(**status)
    obj["spec"].update(spec)
    series.observe(obj)
    series.observe_analysis_step(obj, 0.2)
    count = _value(registry, "gitcanary_canary_duration_seconds_count", name="podinfo-app", namespace=NS)
    assert count == (1 if observed else 0)
    if observed:
        bucket = {"name": "podinfo-app", "namespace": NS, "le": "0.25"}
        assert _value(registry, "gitcanary_canary_duration_seconds_bucket", **bucket) == 1


def test_metric_values_are_recorded_per_metric(series: CanarySeries, registry: CollectorRegistry) -> None:
    series.observe(_canary("Progressing"))
    series.record_metric_values(NS, "podinfo-app", [("request-duration", 0.5), ("error-rate", 2.5)])
    labels = {"name": "podinfo-app", "namespace": NS}
    assert _value(registry, "gitcanary_canary_metric_analysis", metric="request-duration", **labels) == 0.5
    assert _value(registry, "gitcanary_canary_metric_analysis", metric="error-rate", **labels) == 2.5


def test_values_for_an_unknown_canary_are_dropped(series: CanarySeries, registry: CollectorRegistry) -> None:
    empty = _names(registry)
    series.record_metric_values(NS, "podinfo-app", [("error-rate", 1.0)])
    series.observe_analysis_step(_canary("Progressing"), 1.0)
    assert _names(registry) == empty


def test_write_back_series_from_status_gitops(series: CanarySeries, registry: CollectorRegistry) -> None:
    intent = {"id": "abc", "kind": "rollback", "createdAt": "2023-11-14T22:21:00Z"}
    series.observe(_canary("Failed", lastTransitionTime=AFTER, gitops={"pending": [intent]}))
    labels = {"name": "podinfo-app", "namespace": NS}
    assert _value(registry, "gitcanary_write_back_pending_intents", **labels) == 1
    assert _value(registry, "gitcanary_write_back_failing", **labels) == 0
    failing = {"pending": [intent], "lastWriteBack": {"result": "error", "time": "2023-11-14T22:21:01Z"}}
    series.observe(_canary("Failed", lastTransitionTime=AFTER, gitops=failing))
    assert _value(registry, "gitcanary_write_back_failing", **labels) == 1
    done = {
        "pending": [],
        "applied": [{"id": "abc", "commit": "f00", "appliedAt": "2023-11-14T22:21:03Z"}],
        "lastWriteBack": {"result": "rolled-back", "commit": "f00"},
    }
    for _ in range(3):
        series.observe(_canary("Failed", lastTransitionTime=AFTER, gitops=done))
    assert _value(registry, "gitcanary_write_back_pending_intents", **labels) == 0
    assert _value(registry, "gitcanary_write_back_failing", **labels) == 0
    assert _value(registry, "gitcanary_write_back_latency_seconds_count", kind="rollback") == 1
    assert _value(registry, "gitcanary_write_back_latency_seconds_sum", kind="rollback") == 3


def test_write_back_latency_starts_at_zero_for_every_kind(registry: CollectorRegistry) -> None:
    Families.create(registry)
    for kind in ("rollback", "promotion", "promoteTo"):
        assert _value(registry, "gitcanary_write_back_latency_seconds_count", kind=kind) == 0


def test_intents_applied_before_this_process_saw_them_pending_are_not_timed(
    series: CanarySeries, registry: CollectorRegistry
) -> None:
    done = {"applied": [{"id": "abc", "commit": "f00", "appliedAt": AFTER}]}
    series.observe(_canary("Failed", lastTransitionTime=BEFORE, gitops=done))
    assert _value(registry, "gitcanary_write_back_latency_seconds_count", kind="rollback") == 0


def test_a_deleted_canary_loses_every_series(series: CanarySeries, registry: CollectorRegistry) -> None:
    empty = _names(registry)
    obj = _canary("Progressing", lastTransitionTime=AFTER)
    series.observe(obj)
    series.observe_analysis_step(obj, 0.1)
    series.record_metric_values(NS, "podinfo-app", [("error-rate", 0.0)])
    series.observe(_canary("Failed", lastTransitionTime="2023-11-14T22:21:00Z"))
    assert len(_names(registry)) > len(empty)
    series.observe(obj, deleted=True)
    assert _names(registry) == empty
    # A tick that was still running when the Canary went away cannot bring its series back.
    series.observe_analysis_step(obj, 0.1)
    series.record_metric_values(NS, "podinfo-app", [("error-rate", 0.0)])
    assert _names(registry) == empty


def test_a_changed_target_drops_the_old_targets_series(
    series: CanarySeries, registry: CollectorRegistry
) -> None:
    series.observe(_canary("Succeeded"))
    moved = _canary("Initialized")
    moved["spec"]["targetRef"]["name"] = "podinfo-v2"
    series.observe(moved)
    assert _value(registry, "gitcanary_canary_status", name="podinfo-app", namespace=NS) is None
    assert _value(registry, "gitcanary_canary_status", name="podinfo-v2", namespace=NS) == 1
    assert _value(registry, "gitcanary_canary_total", namespace=NS) == 1


def test_info_names_the_version_and_mesh_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITCANARY_MESH_PROVIDER", "istio")
    monkeypatch.setattr(telemetry, "start_http_server", lambda port, addr: None)
    telemetry.serve("127.0.0.1:0")
    from prometheus_client import REGISTRY

    labels = {"version": telemetry.controller_version(), "mesh_provider": "istio"}
    assert REGISTRY.get_sample_value("gitcanary_info", labels) == 1
    assert labels["version"] != "unknown"


def test_two_canaries_of_one_target_share_its_series_until_both_are_gone(
    series: CanarySeries, registry: CollectorRegistry
) -> None:
    empty = _names(registry)
    first, second = _canary("Progressing"), _canary("Progressing")
    second["metadata"]["name"] = "podinfo-again"
    series.observe(first)
    series.observe(second)
    series.record_metric_values(NS, "podinfo-app", [("error-rate", 1.0)])
    series.observe(first, deleted=True)
    assert _value(registry, "gitcanary_canary_status", name="podinfo-app", namespace=NS) == 0
    assert _value(registry, "gitcanary_canary_total", namespace=NS) == 1
    series.observe(second, deleted=True)
    assert _names(registry) == empty


def test_a_canary_the_models_reject_still_has_its_series(
    series: CanarySeries, registry: CollectorRegistry
) -> None:
    """Flagger's older ``canaryAnalysis`` (no ``analysis``): read as written, as before the typed reads."""
    legacy = _canary("Progressing", lastTransitionTime=AFTER)
    legacy["spec"]["canaryAnalysis"] = {**legacy["spec"].pop("analysis"), "iterations": 3}
    series.observe(legacy)
    labels = {"name": "podinfo-app", "namespace": NS, "deployment_strategy": "blue-green"}
    assert _value(registry, "gitcanary_canary_successes_total", analysis_status="completed", **labels) == 0
    assert _value(registry, "gitcanary_canary_status", name="podinfo-app", namespace=NS) == 0
