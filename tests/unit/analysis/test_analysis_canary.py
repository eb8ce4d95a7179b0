"""The canary (weight shifting) strategy, with the seed guide's timeline and rollback scenarios."""

from __future__ import annotations

from dataclasses import replace

from analysis_world import Run, effects, fail, messages, spec_of

from controller.analysis import (
    CheckPrimaryPromoted,
    CheckReady,
    HookOutcome,
    HookType,
    Notify,
    Phase,
    PromotePrimary,
    Readiness,
    RequestWriteBack,
    RunMetricChecks,
    RunWebhooks,
    ScaleCanary,
    SetRoutes,
)

LOAD_TEST = frozenset({HookType.ROLLOUT})


def test_seed_timeline_5_to_50_percent_then_promotion() -> None:
    """flagger-overview-guide.md: stepWeight 5, maxWeight 50, interval 1m."""
    run = Run(spec_of(has_webhooks_of=LOAD_TEST)).progressing()
    weights: list[int] = []
    notes: list[str] = []
    metric_checks = 0
    while run.phase() == Phase.PROGRESSING:
        requests = run.tick()
        metric_checks += requests.count(RunMetricChecks())
        notes += messages(requests)
        weights += [r.canary_weight for r in requests if isinstance(r, SetRoutes)]
        assert run.last is not None
        if run.phase() == Phase.PROGRESSING:
            assert run.last.requeue_after == 60.0
    assert weights == [5, 10, 15, 20, 25, 30, 35, 40, 45, 50]
    assert metric_checks == 10  # one analysis per interval at 5% ... 50%
    assert notes == [
        "Starting canary analysis for podinfo.test",
        *[f"Advance podinfo.test canary weight {w}" for w in range(5, 55, 5)],
        "Copying podinfo.test template spec to podinfo-primary.test",
    ]
    assert run.phase() == Phase.PROMOTING and run.world.promotions == 1
    assert run.state.canary_weight == 0  # Flagger's status shows 0 once promoting
    assert run.world.routes == (50, 50, False)  # ...while traffic still is 50/50

    promoting = run.tick()
    assert promoting == [
        CheckPrimaryPromoted(),
        Notify("Routing all traffic to primary"),
        SetRoutes(100, 0, False),
    ]
    assert run.phase() == Phase.FINALISING
    assert run.last is not None and run.last.requeue_after == 2.0

    finalising = run.tick()
    assert effects(finalising) == [
        ScaleCanary(to_zero=True),
        RequestWriteBack("promoted", "rev-b", "canary analysis passed (0/5 failed checks)"),
    ]
    assert messages(finalising) == ["Promotion completed! Scaling down podinfo.test"]
    assert finalising[-1] == Notify(
        "Promotion completed! Scaling down podinfo.test",
        "info",
        "Synced",
        "Canary analysis completed successfully, promotion finished.",
    )
    assert run.phase() == Phase.SUCCEEDED
    assert (run.state.last_applied_spec, run.state.last_promoted_spec) == ("rev-b", "rev-b")
    assert run.tick() == []  # nothing new to analyse


def test_each_interval_runs_rollout_hooks_before_metrics() -> None:
    run = Run(spec_of(has_webhooks_of=LOAD_TEST)).progressing()
    run.tick()
    requests = run.tick()
    assert effects(requests) == [
        CheckReady("primary"),
        CheckReady("canary"),
        RunWebhooks(HookType.ROLLOUT, Phase.PROGRESSING),
        RunMetricChecks(),
        SetRoutes(90, 10, False),
    ]


def test_rollback_scenario_1_metric_threshold_exceeded() -> None:
    """Seed scenario 1: threshold 5; T1 passes, T2..T6 fail, T6 rolls back."""
    run = Run(spec_of()).progressing()
    run.tick()  # starts the analysis at 5%
    outcomes = [
        None,
        fail("request-success-rate 98.00 < 99"),
        fail("request-success-rate 97.50 < 99"),
        fail("request-success-rate 96.00 < 99", "request-duration 510 > 500"),
        fail("request-success-rate 95.00 < 99", "request-duration 530 > 500"),
        fail("request-success-rate 94.00 < 99", "request-duration 550 > 500"),
    ]
    failed_counts = []
    for index, outcome in enumerate(outcomes, start=1):
        if outcome is not None:
            run.world.metrics.append(outcome)
        requests = run.tick()
        if index < 6:
            assert run.phase() == Phase.PROGRESSING, index
            failed_counts.append(run.state.failed_checks)
    assert failed_counts == [0, 1, 2, 3, 4]
    assert run.state.canary_weight == 0
    assert run.phase() == Phase.FAILED
    assert messages(requests) == [
        "Halt podinfo.test advancement request-success-rate 94.00 < 99",
        "Halt podinfo.test advancement request-duration 550 > 500",
        "Rolling back podinfo.test failed checks threshold reached 5",
        "Canary failed! Scaling down podinfo.test",
    ]
    rolling_back = next(r for r in requests if isinstance(r, Notify) and r.message.startswith("Rolling back"))
    assert (rolling_back.severity, rolling_back.alert) == ("error", "Failed checks threshold reached 5")
    assert effects(requests)[-2:] == [
        SetRoutes(100, 0, False),
        RequestWriteBack("rolled-back", "rev-b", "request-success-rate 94.00 < 99 (5/5 failed checks)"),
    ]
    # scaled down by the next tick, once Failed is saved
    assert run.world.routes == (100, 0, False) and run.world.canary_scaled_to_zero is False
    assert effects(run.tick()) == [ScaleCanary(to_zero=True)]
    assert run.world.canary_scaled_to_zero is True
    assert run.state.last_promoted_spec == "rev-a"
    assert run.state.last_failure == "request-success-rate 94.00 < 99 (5/5 failed checks)"


def test_failing_checks_hold_the_weight() -> None:
    run = Run(spec_of()).progressing()
    run.tick()
    run.world.metrics.append(fail("error rate 69.17% > 1%"))
    requests = run.tick()
    assert messages(requests) == ["Halt podinfo.test advancement error rate 69.17% > 1%"]
    assert not any(isinstance(r, SetRoutes) for r in requests)
    assert (run.state.canary_weight, run.state.failed_checks) == (5, 1)


def test_rollback_scenario_2_intermittent_failure_still_promotes() -> None:
    """Seed scenario 2: one failed interval among passing ones stays under the threshold."""
    run = Run(spec_of()).progressing()
    run.world.metrics.extend([fail("request-success-rate 98.00 < 99")])
    run.tick()  # weight 5
    run.tick()  # T2 fails
    assert run.state.failed_checks == 1 and run.state.canary_weight == 5
    ticks = 0
    while run.phase() != Phase.SUCCEEDED:
        run.tick()
        ticks += 1
        assert run.phase() != Phase.FAILED
    assert run.state.failed_checks == 1  # failures are not forgiven, only bounded by the threshold
    assert run.world.write_backs == [
        RequestWriteBack("promoted", "rev-b", "canary analysis passed (1/5 failed checks)")
    ]


def test_threshold_already_reached_rolls_back_at_start_of_tick() -> None:
    run = Run(spec_of()).progressing()
    run.tick()
    run.state = replace(run.state, failed_checks=5, last_failure="error rate 5% > 1%")
    requests = run.tick()
    assert RunMetricChecks() not in requests
    assert run.phase() == Phase.FAILED
    assert run.world.write_backs[-1].summary == "error rate 5% > 1% (5/5 failed checks)"


def test_rollout_webhook_failure_counts_as_failed_check_and_skips_metrics() -> None:
    run = Run(spec_of(has_webhooks_of=LOAD_TEST)).progressing()
    run.tick()
    run.world.script_hook(HookType.ROLLOUT, HookOutcome(False, "exit status 1", "load-test"))
    requests = run.tick()
    assert RunMetricChecks() not in requests
    assert messages(requests) == [
        "Halt podinfo.test advancement external check load-test failed exit status 1"
    ]
    assert run.state.failed_checks == 1
    assert run.state.last_failure == "webhook load-test failed exit status 1"


def test_pre_rollout_hooks_gate_the_first_step() -> None:
    run = Run(spec_of(has_webhooks_of=frozenset({HookType.PRE_ROLLOUT}))).progressing()
    run.world.script_hook(HookType.PRE_ROLLOUT, HookOutcome(False, "connection refused", "acceptance"))
    requests = run.tick()
    assert RunWebhooks(HookType.PRE_ROLLOUT, Phase.PROGRESSING) in requests
    assert messages(requests) == [
        "Starting canary analysis for podinfo.test",
        "Halt podinfo.test advancement pre-rollout check acceptance failed connection refused",
    ]
    assert (run.state.failed_checks, run.state.canary_weight) == (1, 0)
    requests = run.tick()
    assert messages(requests) == [
        "Starting canary analysis for podinfo.test",
        "Pre-rollout check pre-rollout-hook passed",
        "Advance podinfo.test canary weight 5",
    ]


def test_canary_not_ready_halts_then_rolls_back_after_own_deadline() -> None:
    run = Run(spec_of(progress_deadline_seconds=60)).progressing()
    started = run.state.progress_started_at
    assert started is not None
    not_ready = Readiness(False, "waiting for rollout to finish")
    run.world.canary.extend([not_ready] * 3)
    requests = run.tick(now=started + 1)
    assert messages(requests) == ["Halt advancement podinfo.test waiting for rollout to finish"]
    assert run.phase() == Phase.PROGRESSING and run.last is not None and run.last.requeue_after == 1.0
    assert run.state.progress_started_at == started
    run.tick(now=started + 30)
    requests = run.tick(now=started + 61)
    assert messages(requests) == [
        "Rolling back podinfo.test progress deadline exceeded waiting for rollout to finish",
        "Canary failed! Scaling down podinfo.test",
    ]
    assert run.phase() == Phase.FAILED
    assert run.world.write_backs[-1] == RequestWriteBack(
        "rolled-back", "rev-b", "progress deadline exceeded: waiting for rollout to finish"
    )


def test_driver_reported_deadline_rolls_back_immediately() -> None:
    run = Run(spec_of()).progressing()
    run.tick()
    run.world.canary.append(Readiness(False, 'deployment "podinfo" exceeded its progress deadline', True))
    requests = run.tick()
    deadline = next(r for r in requests if isinstance(r, Notify))
    assert deadline.message == (
        'Rolling back podinfo.test progress deadline exceeded deployment "podinfo" exceeded its progress deadline'
    )
    assert (deadline.severity, deadline.alert) == (
        "error",
        'Progress deadline exceeded deployment "podinfo" exceeded its progress deadline',
    )
    assert run.phase() == Phase.FAILED


def test_readiness_wait_restarts_the_deadline_clock_after_being_ready() -> None:
    run = Run(spec_of(progress_deadline_seconds=60)).progressing()
    run.tick()  # ready: the clock stops
    assert run.state.progress_started_at is None
    run.world.canary.append(Readiness(False, "pod evicted"))
    run.tick(now=10_000.0)
    assert run.state.progress_started_at == 10_000.0
    run.tick(now=10_030.0)
    assert run.phase() == Phase.PROGRESSING and run.state.progress_started_at is None


def test_primary_not_ready_halts_the_analysis() -> None:
    run = Run(spec_of()).progressing()
    run.world.primary.append(
        Readiness(False, "waiting for rollout to finish: 1 of 2 updated replicas are available")
    )
    requests = run.tick()
    assert requests == [
        CheckReady("primary"),
        Notify(
            "Halt advancement podinfo-primary.test waiting for rollout to finish: 1 of 2 updated replicas are available",
            "warn",
        ),
    ]
    assert run.state.canary_weight == 0


def test_rollback_webhook_rolls_back_immediately() -> None:
    spec = spec_of(has_webhooks_of=frozenset({HookType.ROLLBACK, HookType.POST_ROLLOUT}))
    run = Run(spec).progressing()
    quiet = run.tick()
    assert "Rollback hook rollback-hook not signaling a rollback" in messages(quiet)
    run.world.script_hook(HookType.ROLLBACK, HookOutcome(True, "", "manual"))
    requests = run.tick()
    assert RunWebhooks(HookType.ROLLBACK, Phase.PROGRESSING) in requests
    assert messages(requests) == [
        "Rollback check manual passed",
        "Rolling back podinfo.test manual webhook invoked",
        "Canary failed! Scaling down podinfo.test",
        "Post-rollout check post-rollout-hook passed",
    ]
    assert RunWebhooks(HookType.POST_ROLLOUT, Phase.FAILED) in requests
    assert RunMetricChecks() not in requests
    assert run.phase() == Phase.FAILED
    assert run.world.write_backs == [
        RequestWriteBack("rolled-back", "rev-b", "rollback webhook manual invoked")
    ]


def test_confirm_traffic_increase_gate() -> None:
    run = Run(spec_of(has_webhooks_of=frozenset({HookType.CONFIRM_TRAFFIC_INCREASE}))).progressing()
    run.world.script_hook(HookType.CONFIRM_TRAFFIC_INCREASE, HookOutcome(False, "", "traffic-gate"))
    requests = run.tick()
    halt = "Halt podinfo.test advancement waiting for traffic increase approval traffic-gate"
    assert Notify(halt, "warn", "Synced", halt) in requests
    assert not any(isinstance(r, SetRoutes) for r in requests)
    assert run.state.canary_weight == 0 and run.phase() == Phase.PROGRESSING
    requests = run.tick()
    assert messages(requests)[-2:] == [
        "Confirm-traffic-increase check confirm-traffic-increase-hook passed",
        "Advance podinfo.test canary weight 5",
    ]


def test_confirm_promotion_gate_waits_then_promotes() -> None:
    spec = spec_of(step_weight=25, has_webhooks_of=frozenset({HookType.CONFIRM_PROMOTION}))
    run = Run(spec).progressing()
    run.tick()
    run.tick()
    assert run.state.canary_weight == 50
    run.world.script_hook(
        HookType.CONFIRM_PROMOTION, HookOutcome(False, "", "approval"), HookOutcome(False, "", "approval")
    )
    requests = run.tick()
    assert run.phase() == Phase.WAITING_PROMOTION
    halt = "Halt podinfo.test advancement waiting for promotion approval approval"
    assert Notify(halt, "warn", "Synced", halt) in requests
    assert run.world.routes == (50, 50, False)
    requests = run.tick()
    assert RunMetricChecks() in requests  # checks go on while waiting
    assert messages(requests) == [] and run.phase() == Phase.WAITING_PROMOTION
    requests = run.tick()
    assert messages(requests) == [
        "Confirm-promotion check confirm-promotion-hook passed",
        "Copying podinfo.test template spec to podinfo-primary.test",
    ]
    assert PromotePrimary() in requests and run.phase() == Phase.PROMOTING


def test_failed_checks_while_waiting_for_promotion_roll_back() -> None:
    spec = spec_of(step_weight=50, threshold=1, has_webhooks_of=frozenset({HookType.CONFIRM_PROMOTION}))
    run = Run(spec).progressing()
    run.tick()
    run.world.script_hook(HookType.CONFIRM_PROMOTION, HookOutcome(False, "", "approval"))
    run.tick()
    assert run.phase() == Phase.WAITING_PROMOTION
    run.world.metrics.append(fail("error rate 2% > 1%"))
    run.tick()
    assert run.phase() == Phase.FAILED


def test_gradual_promotion_with_step_weight_promotion() -> None:
    run = Run(spec_of(step_weight=50, step_weight_promotion=20)).progressing()
    run.tick()
    run.tick()
    assert run.phase() == Phase.PROMOTING
    run.world.promoted.append(Readiness(False, "1 of 2"))
    requests = run.tick()
    assert requests == [
        CheckPrimaryPromoted(),
        Notify("Halt advancement podinfo-primary.test 1 of 2", "warn"),
    ]
    assert run.last is not None and run.last.requeue_after == 1.0
    shifted = []
    while run.phase() == Phase.PROMOTING:
        requests = run.tick()
        shifted += [(r.primary_weight, r.canary_weight) for r in requests if isinstance(r, SetRoutes)]
        if run.phase() == Phase.PROMOTING:
            assert messages(requests) == [f"Advance podinfo.test primary weight {shifted[-1][0]}"]
            assert run.state.canary_weight == shifted[-1][1]
    assert shifted == [(70, 30), (90, 10), (100, 0)]
    assert run.phase() == Phase.FINALISING


def test_skip_analysis_promotes_straight_away() -> None:
    run = Run(spec_of(skip_analysis=True)).progressing()
    requests = run.tick()
    assert CheckReady("primary") not in requests
    assert effects(requests) == [
        CheckReady("canary"),
        SetRoutes(100, 0, False),
        PromotePrimary(),
        ScaleCanary(to_zero=True),
        RequestWriteBack("promoted", "rev-b", "canary analysis skipped"),
    ]
    assert messages(requests) == [
        "Copying podinfo.test template spec to podinfo-primary.test",
        "Promotion completed! Canary analysis was skipped for podinfo.test",
    ]
    assert run.phase() == Phase.SUCCEEDED and run.state.last_promoted_spec == "rev-b"


def test_mirroring_mirrors_one_step_before_shifting() -> None:
    run = Run(spec_of(mirror=True, mirror_weight=100)).progressing()
    first = run.tick()
    assert SetRoutes(100, 0, True) in first and RunMetricChecks() not in first
    assert "Advance podinfo.test canary weight 0" in messages(first)
    second = run.tick()
    assert RunMetricChecks() in second  # mirrored traffic is analysed
    assert "Starting canary analysis for podinfo.test" not in messages(second)
    assert SetRoutes(95, 5, False) in second
    third = run.tick()
    assert SetRoutes(90, 10, False) in third


def test_no_step_weight_keeps_analysing_without_shifting() -> None:
    run = Run(spec_of(step_weight=0, max_weight=0)).progressing()
    requests = run.tick()
    assert not any(isinstance(r, SetRoutes) for r in requests)
    assert run.phase() == Phase.PROGRESSING


def test_post_rollout_hook_failure_is_reported_but_changes_nothing() -> None:
    run = Run(spec_of(step_weight=50, has_webhooks_of=frozenset({HookType.POST_ROLLOUT}))).progressing()
    run.world.script_hook(HookType.POST_ROLLOUT, HookOutcome(False, "timeout", "notify-qa"))
    while run.phase() != Phase.SUCCEEDED:
        requests = run.tick()
    assert RunWebhooks(HookType.POST_ROLLOUT, Phase.SUCCEEDED) in requests
    assert "Post-rollout hook notify-qa failed timeout" in messages(requests)
    assert run.world.write_backs[-1].result == "promoted"


def test_failed_metrics_without_details_still_count() -> None:
    run = Run(spec_of()).progressing()
    run.tick()
    run.world.metrics.append(fail())
    requests = run.tick()
    assert messages(requests) == ["Halt podinfo.test advancement metric checks failed"]
    assert run.state.failed_checks == 1
