"""CanaryState serialisation, phase transitions, spec defaults and the public surface."""

from __future__ import annotations

import json

import controller.analysis as analysis
from controller.analysis import AnalysisSpec, CanaryState, HookType, Phase


def test_state_round_trips_through_json() -> None:
    state = CanaryState(
        phase=Phase.WAITING_PROMOTION,
        canary_weight=30,
        failed_checks=2,
        iterations=4,
        last_applied_spec="abc",
        last_promoted_spec="def",
        last_transition_time=12.5,
        progress_started_at=None,
        primary_route_weight=70,
        canary_route_weight=30,
        mirrored=True,
        last_failure="error rate 2% > 1%",
        halt_notified_at=10.0,
    )
    raw = json.loads(json.dumps(state.to_dict()))
    assert raw["phase"] == "WaitingPromotion"
    assert CanaryState.from_dict(raw) == state


def test_from_dict_tolerates_flagger_status_shapes() -> None:
    restored = CanaryState.from_dict({"phase": "", "canary_weight": 5, "trackedConfigs": {}})
    assert restored.phase == Phase.INITIALIZING
    assert restored.canary_weight == 5
    assert CanaryState.from_dict({}).phase == Phase.INITIALIZING
    assert CanaryState.from_dict({"phase": "Failed"}).phase == Phase.FAILED


def test_with_phase_moves_transition_time_only_on_change() -> None:
    state = CanaryState(phase=Phase.PROGRESSING, last_transition_time=1.0)
    assert state.with_phase(Phase.PROGRESSING, 50.0).last_transition_time == 1.0
    moved = state.with_phase(Phase.FAILED, 50.0)
    assert (moved.phase, moved.last_transition_time) == (Phase.FAILED, 50.0)


def test_spec_target_and_threshold_defaults() -> None:
    spec = AnalysisSpec(name="podinfo", namespace="test", threshold=0)
    assert spec.target == "podinfo"
    assert spec.effective_threshold == 1
    other = AnalysisSpec(
        name="c", namespace="n", target_name="app", has_webhooks_of=frozenset({HookType.ROLLOUT})
    )
    assert other.target == "app"
    assert other.has_hook(HookType.ROLLOUT)
    assert not other.has_hook(HookType.ROLLBACK)


def test_phases_have_flagger_values() -> None:
    assert [p.value for p in Phase] == [
        "Initializing",
        "Initialized",
        "Waiting",
        "Progressing",
        "WaitingPromotion",
        "Promoting",
        "Finalising",
        "Succeeded",
        "Failed",
        "Terminating",
        "Terminated",
    ]


def test_public_surface() -> None:
    for name in analysis.__all__:
        assert hasattr(analysis, name), name
    assert {"tick", "drive", "drive_async", "AnalysisSpec", "CanaryState", "Decision"} <= set(
        analysis.__all__
    )
