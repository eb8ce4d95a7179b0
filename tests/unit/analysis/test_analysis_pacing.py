"""Pacing: the analysis step (checks + strategy) runs at most once per interval, however often
the loop is woken (watch events, readiness polling); ticks in between only re-check readiness
and requeue for the rest of the interval."""

from __future__ import annotations

from analysis_world import Run, fail, spec_of

from controller.analysis import (
    CheckReady,
    HookOutcome,
    HookType,
    Phase,
    Readiness,
    Request,
    RunMetricChecks,
    RunWebhooks,
    SetRoutes,
)


def analysed(requests: list[Request]) -> bool:
    return any(isinstance(r, RunMetricChecks) for r in requests)


def route_changes(requests: list[Request]) -> list[SetRoutes]:
    return [r for r in requests if isinstance(r, SetRoutes)]


def first_step() -> tuple[Run, float]:
    """A Progressing run that just took its first analysis step (weight 5) at the returned time."""
    run = Run(spec_of()).progressing()
    at = run.now
    requests = run.tick()
    assert route_changes(requests) == [SetRoutes(95, 5, False)]
    assert run.state.last_analysis_at == at
    assert run.last is not None and run.last.requeue_after == 60.0
    return run, at


def test_a_tick_within_the_interval_only_waits_for_the_rest_of_it() -> None:
    run, at = first_step()
    before = run.state
    requests = run.tick(now=at + 10)
    assert requests == [CheckReady("primary"), CheckReady("canary")]
    assert run.last is not None
    assert run.last.requeue_after == 50.0
    assert run.state == before


def test_the_analysis_runs_again_once_the_interval_elapsed() -> None:
    run, at = first_step()
    run.tick(now=at + 59.5)
    requests = run.tick(now=at + 60)
    assert analysed(requests)
    assert route_changes(requests) == [SetRoutes(90, 10, False)]
    assert run.state.last_analysis_at == at + 60


def test_fast_polling_neither_advances_weights_nor_multiplies_failed_checks() -> None:
    run, at = first_step()
    run.world.metrics.extend([fail("error-rate 5 > 1"), fail("error-rate 5 > 1")])
    requests = run.tick(now=at + 60)
    assert analysed(requests)
    assert run.state.failed_checks == 1
    for offset in (61, 65, 90, 119.9):
        requests = run.tick(now=at + offset)
        assert not analysed(requests)
        assert route_changes(requests) == []
    assert run.state.failed_checks == 1
    assert run.state.canary_route_weight == 5
    assert len(run.world.metrics) == 1  # the second scripted failure was never consumed
    assert analysed(run.tick(now=at + 120))
    assert run.state.failed_checks == 2


def test_webhook_gates_are_asked_at_most_once_per_interval() -> None:
    run = Run(spec_of(has_webhooks_of=frozenset({HookType.ROLLOUT}))).progressing()
    at = run.now
    run.tick()  # first step: no traffic yet, so no rollout hook
    run.world.script_hook(HookType.ROLLOUT, HookOutcome(False, "not yet", "load"))
    asked = [r for r in run.tick(now=at + 60) if isinstance(r, RunWebhooks)]
    assert [r.hook_type for r in asked] == [HookType.ROLLOUT]
    assert run.state.failed_checks == 1
    for offset in (61, 62, 100):
        assert not [r for r in run.tick(now=at + offset) if isinstance(r, RunWebhooks)]
    assert run.state.failed_checks == 1


def test_a_new_revision_restarts_at_once_without_waiting_for_the_interval() -> None:
    run, at = first_step()
    requests = run.tick(revision="rev-c", now=at + 5)
    assert route_changes(requests) == [SetRoutes(100, 0, False)]
    assert run.state.last_applied_spec == "rev-c"
    assert run.state.canary_route_weight == 0


def test_readiness_halts_are_not_paced_away() -> None:
    run, at = first_step()
    run.world.canary.append(Readiness(False, "waiting for rollout to finish"))
    requests = run.tick(now=at + 5)
    assert not analysed(requests)
    assert run.last is not None and run.last.requeue_after == 1.0  # readiness polling, not the interval
    assert run.state.progress_started_at == at + 5


def test_a_clock_that_went_backwards_does_not_stall_the_analysis() -> None:
    run, at = first_step()
    requests = run.tick(now=at - 3600)
    assert analysed(requests)
    assert run.state.last_analysis_at == at - 3600


def test_waiting_promotion_asks_the_gate_once_per_interval() -> None:
    spec = spec_of(has_webhooks_of=frozenset({HookType.CONFIRM_PROMOTION}), max_weight=5)
    run = Run(spec).progressing()
    run.world.script_hook(HookType.CONFIRM_PROMOTION, *[HookOutcome(False, "closed", "gate")] * 3)
    run.tick()  # weight 5 == max weight
    at = run.now
    run.tick(now=at)  # promotion attempt: the gate is closed
    assert run.phase() == Phase.WAITING_PROMOTION
    gate_calls = [r for r in run.tick(now=at + 30) if isinstance(r, RunWebhooks)]
    assert gate_calls == []
    assert run.last is not None and run.last.requeue_after == 30.0
    later = [r for r in run.tick(now=at + 60) if isinstance(r, RunWebhooks)]
    assert [r.hook_type for r in later] == [HookType.CONFIRM_PROMOTION]
