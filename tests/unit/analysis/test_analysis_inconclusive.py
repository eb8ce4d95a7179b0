"""Inconclusive checks (issue 16): a check that could not measure is not a failed check.

- The canary does not advance in an inconclusive interval, under either policy.
- `count` (default, Flagger's): inconclusive intervals count toward `threshold`; the rollback they
  cause is written back as `inconclusive`, never `rolled-back` (which may quarantine the tag).
- `hold`: they are counted apart, a conclusive interval resets the count, and the analysis gives
  up at `inconclusiveThreshold` (default `threshold`) or once the hold lasted the progress deadline.
- Only measured failures and webhooks that answered "bad" make a `rolled-back` verdict.
"""

from __future__ import annotations

from analysis_world import Run, fail, messages, spec_of

from controller.analysis import (
    CanaryState,
    HookOutcome,
    HookType,
    InconclusivePolicy,
    MetricsOutcome,
    Notify,
    Phase,
    RequestWriteBack,
    SetRoutes,
)

TIMEOUT = "request-success-rate inconclusive (timeout): Prometheus query failed: request timed out after 2s"
HOLD = InconclusivePolicy.HOLD


def unmeasured(*details: str) -> MetricsOutcome:
    return MetricsOutcome(False, (), details or (TIMEOUT,))


def advanced(run: Run, steps: int) -> Run:
    for _ in range(steps):
        run.tick()
    return run


def test_count_policy_holds_the_weight_and_counts_as_failed_check() -> None:
    run = advanced(Run(spec_of()).progressing(), 2)  # weight 10
    weight = run.state.canary_route_weight
    run.world.metrics.append(unmeasured())
    requests = run.tick()
    assert run.state.canary_route_weight == weight
    assert not [r for r in requests if isinstance(r, SetRoutes)]
    assert (run.state.failed_checks, run.state.inconclusive_checks) == (1, 1)
    assert run.state.last_inconclusive == TIMEOUT
    assert f"Halt podinfo.test advancement {TIMEOUT}" in messages(requests)


def test_count_policy_resumes_and_promotes_without_any_rollback_write_back() -> None:
    run = advanced(Run(spec_of(threshold=3)).progressing(), 2)
    run.world.metrics.extend([unmeasured(), unmeasured()])
    for _ in range(30):
        run.tick()
        if run.phase() is Phase.SUCCEEDED:
            break
    assert run.phase() is Phase.SUCCEEDED
    assert [wb.result for wb in run.world.write_backs] == ["promoted"]


def test_count_policy_threshold_of_inconclusive_checks_rolls_back_as_inconclusive() -> None:
    run = advanced(Run(spec_of(threshold=2)).progressing(), 2)
    run.world.metrics.extend([unmeasured(), unmeasured()])
    run.tick()
    requests = run.tick()
    assert run.phase() is Phase.FAILED
    assert run.world.routes == (100, 0, False)
    (write_back,) = run.world.write_backs
    assert write_back.result == "inconclusive"
    assert "timeout" in write_back.summary
    assert requests.index(SetRoutes(100, 0, False)) < requests.index(write_back)


def test_count_policy_mixed_failures_below_threshold_are_not_a_verdict() -> None:
    run = advanced(Run(spec_of(threshold=3)).progressing(), 2)
    run.world.metrics.extend([fail("error rate 5% > 1%"), fail("error rate 5% > 1%"), unmeasured()])
    for _ in range(3):
        run.tick()
    assert run.phase() is Phase.FAILED
    assert [wb.result for wb in run.world.write_backs] == ["inconclusive"]
    assert "3/3 failed checks, 1 inconclusive" in run.world.write_backs[0].summary


def test_measured_failures_reaching_threshold_are_a_verdict_under_both_policies() -> None:
    for policy in InconclusivePolicy:
        run = advanced(Run(spec_of(threshold=2, on_inconclusive=policy)).progressing(), 2)
        run.world.metrics.extend([fail("error rate 5% > 1%"), unmeasured(), fail("error rate 6% > 1%")])
        for _ in range(3):
            run.tick()
        if policy is InconclusivePolicy.COUNT:  # the inconclusive interval counted: 3 intervals in all
            assert [wb.result for wb in run.world.write_backs] == ["inconclusive"]
        else:
            assert [wb.result for wb in run.world.write_backs] == ["rolled-back"], policy
    run = advanced(Run(spec_of(threshold=2)).progressing(), 2)
    run.world.metrics.extend([fail("error rate 5% > 1%"), fail("error rate 6% > 1%")])
    run.tick()
    run.tick()
    assert [wb.result for wb in run.world.write_backs] == ["rolled-back"]


def test_hold_policy_counts_apart_and_a_conclusive_interval_resets_the_hold() -> None:
    run = advanced(Run(spec_of(threshold=2, on_inconclusive=HOLD)).progressing(), 2)
    weight = run.state.canary_route_weight
    run.world.metrics.append(unmeasured())
    run.tick()
    assert (run.state.failed_checks, run.state.inconclusive_checks) == (0, 1)
    assert run.state.hold_started_at is not None
    assert run.state.canary_route_weight == weight
    requests = run.tick()  # Prometheus answers again
    assert (run.state.inconclusive_checks, run.state.hold_started_at) == (0, None)
    assert run.state.canary_route_weight > weight
    assert any("answer again after 1 inconclusive interval" in m for m in messages(requests))
    run.world.metrics.append(unmeasured())  # one more, not in a row with the first: no give-up
    run.tick()
    assert run.phase() is Phase.PROGRESSING
    assert run.world.write_backs == []


def test_hold_policy_gives_up_at_inconclusive_threshold_defaulting_to_threshold() -> None:
    run = advanced(Run(spec_of(threshold=3, on_inconclusive=HOLD)).progressing(), 2)
    run.world.metrics.extend([unmeasured()] * 3)
    run.tick()
    run.tick()
    assert run.phase() is Phase.PROGRESSING
    requests = run.tick()
    assert run.phase() is Phase.FAILED
    assert run.world.routes == (100, 0, False)
    (write_back,) = run.world.write_backs
    assert write_back.result == "inconclusive"
    assert write_back.summary.endswith("(3/3 inconclusive checks)")
    alerts = [r.alert for r in requests if isinstance(r, Notify) and r.alert]
    assert alerts == ["Inconclusive checks threshold reached 3"]
    assert (run.state.failed_checks, run.state.inconclusive_checks) == (0, 0)


def test_hold_policy_explicit_inconclusive_threshold() -> None:
    spec = spec_of(threshold=1, on_inconclusive=HOLD, inconclusive_threshold=4)
    run = advanced(Run(spec).progressing(), 2)
    run.world.metrics.extend([unmeasured()] * 4)
    for _ in range(3):
        run.tick()
    assert run.phase() is Phase.PROGRESSING
    run.tick()
    assert [wb.result for wb in run.world.write_backs] == ["inconclusive"]


def test_hold_is_bounded_by_the_progress_deadline() -> None:
    spec = spec_of(on_inconclusive=HOLD, inconclusive_threshold=100, progress_deadline_seconds=150)
    run = advanced(Run(spec).progressing(), 2)
    run.world.metrics.extend([unmeasured()] * 10)
    run.tick()  # t0
    run.tick()  # t0 + 60
    run.tick()  # t0 + 120
    assert run.phase() is Phase.PROGRESSING
    requests = run.tick()  # t0 + 180 >= 150
    assert run.phase() is Phase.FAILED
    assert [wb.result for wb in run.world.write_backs] == ["inconclusive"]
    assert any("past the progress deadline of 150s" in m for m in messages(requests))


def test_a_state_restored_past_the_inconclusive_threshold_gives_up_at_once() -> None:
    run = advanced(Run(spec_of(threshold=2, on_inconclusive=HOLD)).progressing(), 2)
    from dataclasses import replace

    run.state = replace(run.state, inconclusive_checks=2, last_inconclusive=TIMEOUT)
    run.tick()
    assert [wb.result for wb in run.world.write_backs] == ["inconclusive"]


def test_rollout_webhook_timeout_is_inconclusive_and_an_answered_500_is_a_failure() -> None:
    hooks = frozenset({HookType.ROLLOUT})
    timed_out = HookOutcome(False, "timeout after 2s", "load-test", inconclusive="timeout")
    run = advanced(Run(spec_of(threshold=2, has_webhooks_of=hooks)).progressing(), 2)
    run.world.script_hook(HookType.ROLLOUT, timed_out, timed_out)
    run.tick()
    requests = run.tick()
    assert [wb.result for wb in run.world.write_backs] == ["inconclusive"]
    assert any("webhook load-test inconclusive (timeout): timeout after 2s" in m for m in messages(requests))

    answered = HookOutcome(False, "load test failed: 42% errors", "load-test")
    run = advanced(Run(spec_of(threshold=2, has_webhooks_of=hooks)).progressing(), 2)
    run.world.script_hook(HookType.ROLLOUT, answered, answered)
    run.tick()
    run.tick()
    assert [wb.result for wb in run.world.write_backs] == ["rolled-back"]


def test_inconclusive_hook_and_failed_metric_in_one_interval_is_a_failed_check() -> None:
    hooks = frozenset({HookType.ROLLOUT})
    spec = spec_of(threshold=1, has_webhooks_of=hooks, on_inconclusive=HOLD)
    run = advanced(Run(spec).progressing(), 2)
    run.world.script_hook(HookType.ROLLOUT, HookOutcome(False, "", "load-test", inconclusive="unreachable"))
    run.world.metrics.append(fail("error rate 5% > 1%"))
    run.tick()
    assert [wb.result for wb in run.world.write_backs] == ["rolled-back"]


def test_pre_rollout_webhook_timeout_holds_at_zero_under_hold() -> None:
    hooks = frozenset({HookType.PRE_ROLLOUT})
    spec = spec_of(threshold=2, has_webhooks_of=hooks, on_inconclusive=HOLD)
    run = Run(spec).progressing()
    run.world.script_hook(HookType.PRE_ROLLOUT, HookOutcome(False, "", "smoke", inconclusive="timeout"))
    run.tick()
    assert run.state.canary_route_weight == 0
    assert (run.state.failed_checks, run.state.inconclusive_checks) == (0, 1)
    run.tick()  # the pre-rollout hook passes now: the analysis starts
    assert run.state.inconclusive_checks == 0
    run.tick()
    assert run.state.canary_route_weight > 0


def test_new_fields_round_trip_and_reset_on_a_new_revision() -> None:
    state = CanaryState(inconclusive_checks=2, last_inconclusive=TIMEOUT, hold_started_at=12.5)
    assert CanaryState.from_dict(state.to_dict()) == state
    run = advanced(Run(spec_of(threshold=5, on_inconclusive=HOLD)).progressing(), 2)
    run.world.metrics.append(unmeasured())
    run.tick()
    run.tick("rev-c")
    assert (run.state.inconclusive_checks, run.state.last_inconclusive, run.state.hold_started_at) == (
        0,
        "",
        None,
    )


def test_write_back_result_type_names_inconclusive() -> None:
    assert RequestWriteBack("inconclusive", "rev", "x").result == "inconclusive"
