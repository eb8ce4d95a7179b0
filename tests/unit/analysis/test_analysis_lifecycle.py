"""Initialisation, revision detection, the confirm-rollout gate and restarts."""

from __future__ import annotations

from collections import deque

from analysis_world import Run, World, effects, fail, messages, spec_of

from controller.analysis import (
    AcquireSlot,
    CanaryState,
    CheckReady,
    HookOutcome,
    HookType,
    InitializePrimary,
    Notify,
    Phase,
    Readiness,
    RunWebhooks,
    ScaleCanary,
    SetRoutes,
    drive,
    tick,
)


def test_initialization_routes_to_primary_before_scaling_canary_down() -> None:
    run = Run(spec_of())
    requests = run.tick()
    assert requests == [
        InitializePrimary(),
        CheckReady("primary"),
        SetRoutes(100, 0, False),
        ScaleCanary(to_zero=True),
        Notify(
            "Initialization done! podinfo.test",
            "info",
            "Synced",
            "New Deployment detected, initialization completed.",
        ),
    ]
    assert run.phase() == Phase.INITIALIZED
    assert (run.state.last_applied_spec, run.state.last_promoted_spec) == ("rev-a", "rev-a")
    assert run.state.last_transition_time == 1_000.0
    assert run.last is not None and run.last.requeue_after == 60.0


def test_initialization_waits_for_the_primary_polling_fast() -> None:
    world = World()
    world.primary.extend(
        [Readiness(False, "waiting for rollout to finish: 0 of 2 updated replicas are available")] * 2
    )
    run = Run(spec_of(), world)
    first = run.tick()
    assert run.phase() == Phase.INITIALIZING
    assert effects(first) == [InitializePrimary(), CheckReady("primary")]
    assert messages(first) == [
        "Halt advancement podinfo-primary.test waiting for rollout to finish: 0 of 2 updated replicas are available"
    ]
    assert run.last is not None and run.last.requeue_after == 1.0
    second = run.tick()
    assert messages(second) == []  # announced at most once per interval
    assert run.tick() and run.phase() == Phase.INITIALIZED


def test_initialization_with_skip_analysis_does_not_wait_for_the_primary() -> None:
    run = Run(spec_of(skip_analysis=True))
    assert CheckReady("primary") not in run.tick()
    assert run.phase() == Phase.INITIALIZED


def test_unchanged_revision_does_nothing() -> None:
    run = Run(spec_of()).initialized()
    assert run.tick() == []
    assert run.phase() == Phase.INITIALIZED


def test_new_revision_scales_canary_up_and_enters_progressing() -> None:
    run = Run(spec_of()).initialized()
    requests = run.tick("rev-b", now=5_000.0)
    assert requests == [
        CheckReady("primary"),
        AcquireSlot(),
        Notify(
            "New revision detected! Scaling up podinfo.test",
            "info",
            "Synced",
            "New revision detected, progressing canary analysis.",
        ),
        ScaleCanary(to_zero=False),
    ]
    state = run.state
    assert state.phase == Phase.PROGRESSING
    assert (state.last_applied_spec, state.last_promoted_spec) == ("rev-b", "rev-a")
    assert (state.canary_weight, state.failed_checks, state.iterations) == (0, 0, 0)
    assert state.progress_started_at == 5_000.0
    assert state.last_transition_time == 5_000.0
    assert run.last is not None and run.last.requeue_after == 1.0


def test_new_revision_halts_while_primary_is_not_ready() -> None:
    run = Run(spec_of()).initialized()
    run.world.primary.append(Readiness(False, "waiting for rollout to finish"))
    requests = run.tick("rev-b")
    assert run.phase() == Phase.INITIALIZED
    assert ScaleCanary(to_zero=False) not in requests
    assert messages(requests) == ["Halt advancement podinfo-primary.test waiting for rollout to finish"]


def test_confirm_rollout_gate_holds_the_canary_in_waiting() -> None:
    spec = spec_of(has_webhooks_of=frozenset({HookType.CONFIRM_ROLLOUT}))
    run = Run(spec).initialized()
    run.world.script_hook(
        HookType.CONFIRM_ROLLOUT, HookOutcome(False, "403", "gate"), HookOutcome(False, "403", "gate")
    )
    first = run.tick("rev-b")
    assert run.phase() == Phase.WAITING
    assert RunWebhooks(HookType.CONFIRM_ROLLOUT, Phase.INITIALIZED) in first
    assert ScaleCanary(to_zero=False) not in first
    halt = [r for r in first if isinstance(r, Notify)]
    assert [(n.message, n.severity, n.alert) for n in halt] == [
        (
            "Halt podinfo.test advancement waiting for approval gate",
            "warn",
            "Halt podinfo.test advancement waiting for approval gate",
        )
    ]
    waiting_since = run.state.last_transition_time
    second = run.tick()
    assert run.phase() == Phase.WAITING and messages(second) == []
    assert run.state.last_transition_time == waiting_since
    third = run.tick()
    assert RunWebhooks(HookType.CONFIRM_ROLLOUT, Phase.WAITING) in third
    assert messages(third) == [
        "Confirm-rollout check confirm-rollout-hook passed",
        "New revision detected! Scaling up podinfo.test",
    ]
    assert run.phase() == Phase.PROGRESSING
    assert run.state.last_applied_spec == "rev-b"


def test_revision_reverted_to_primary_after_failure_runs_no_analysis() -> None:
    state = CanaryState(phase=Phase.FAILED, last_applied_spec="rev-b", last_promoted_spec="rev-a")
    run = Run(spec_of(), state=state)
    requests = run.tick("rev-a")
    assert effects(requests) == [ScaleCanary(to_zero=True)]
    assert messages(requests) == ["Revision of podinfo.test matches podinfo-primary.test, no analysis needed"]
    assert run.phase() == Phase.FAILED
    assert run.state.last_applied_spec == "rev-a"
    assert run.world.write_backs == []
    assert run.tick() == [ScaleCanary(to_zero=True)]  # keeps the canary at zero, says nothing


def test_failed_canary_analyses_a_different_new_revision() -> None:
    state = CanaryState(phase=Phase.FAILED, last_applied_spec="rev-b", last_promoted_spec="rev-a")
    run = Run(spec_of(), state=state)
    assert run.tick("rev-b") == [ScaleCanary(to_zero=True)]
    run.tick("rev-c")
    assert run.phase() == Phase.PROGRESSING
    assert run.state.last_applied_spec == "rev-c"


def test_new_revision_mid_analysis_restarts_it() -> None:
    run = Run(spec_of()).progressing()
    run.tick()
    run.tick()
    assert run.state.canary_weight == 10
    run.world.metrics.append(fail("error rate 3% > 1%"))
    run.tick()
    assert run.state.failed_checks == 1
    requests = run.tick("rev-c")
    assert effects(requests) == [CheckReady("primary"), SetRoutes(100, 0, False)]
    assert messages(requests) == ["New revision detected! Restarting analysis for podinfo.test"]
    state = run.state
    assert (state.phase, state.canary_weight, state.failed_checks, state.iterations) == (
        Phase.PROGRESSING,
        0,
        0,
        0,
    )
    assert (state.canary_route_weight, state.last_applied_spec) == (0, "rev-c")
    assert messages(run.tick())[0] == "Starting canary analysis for podinfo.test"


def test_waiting_promotion_restart_returns_to_progressing() -> None:
    state = CanaryState(
        phase=Phase.WAITING_PROMOTION,
        last_applied_spec="rev-b",
        last_promoted_spec="rev-a",
        canary_route_weight=50,
        primary_route_weight=50,
        last_transition_time=1.0,
    )
    run = Run(spec_of(), state=state)
    run.tick("rev-c", now=99.0)
    assert run.phase() == Phase.PROGRESSING
    assert run.state.last_transition_time == 99.0


def test_a_canary_without_an_analysis_slot_waits_with_a_reason_then_starts() -> None:
    world = World(slots=deque([False, False, True]))
    spec = spec_of()
    state = CanaryState(phase=Phase.SUCCEEDED, last_applied_spec="rev-a", last_promoted_spec="rev-a")
    first = drive(tick(spec, state, 1_000.0, "rev-b"), world)
    assert first.state.phase == Phase.WAITING and first.requeue_after <= 5.0
    notes = [r.message for r in world.requests if isinstance(r, Notify)]
    assert notes == [
        "Halt podinfo.test advancement waiting for an analysis slot (max-concurrent-canaries reached)"
    ]
    assert world.canary_scaled_to_zero is None, "a queued canary is not scaled up"
    second = drive(tick(spec, first.state, 1_005.0, "rev-b"), world)
    assert second.state.phase == Phase.WAITING
    assert len([r for r in world.requests if isinstance(r, Notify)]) == 1, "the wait is announced once"
    third = drive(tick(spec, second.state, 1_010.0, "rev-b"), world)
    assert third.state.phase == Phase.PROGRESSING and world.canary_scaled_to_zero is False
