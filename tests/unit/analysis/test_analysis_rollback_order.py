"""A rollback moves the traffic before anything is announced: no alert may come first.

Each rollback path (failed-checks threshold, progress deadline, rollback webhook) must yield
``SetRoutes(100, 0)`` before the first ``Notify`` that carries an alert, so that an alert the
driver fails to deliver can never keep a bad canary's traffic.
"""

from __future__ import annotations

from dataclasses import replace

from analysis_world import Run, fail, spec_of

from controller.analysis import HookOutcome, HookType, Notify, Phase, Readiness, Request, SetRoutes


def _routes_before_alerts(requests: list[Request]) -> None:
    to_primary = next(i for i, r in enumerate(requests) if r == SetRoutes(100, 0, False))
    alerts = [i for i, r in enumerate(requests) if isinstance(r, Notify) and r.alert]
    assert alerts, "the rollback is still alerted"
    assert to_primary < min(alerts), [type(r).__name__ for r in requests]


def test_threshold_rollback_routes_to_primary_before_alerting() -> None:
    run = Run(spec_of(threshold=1)).progressing()
    run.tick()  # weight 5
    run.world.metrics.append(fail("error rate 69.17% > 1%"))
    requests = run.tick()
    assert run.phase() == Phase.FAILED
    _routes_before_alerts(requests)


def test_threshold_reached_at_start_of_tick_routes_before_alerting() -> None:
    run = Run(spec_of()).progressing()
    run.tick()
    run.state = replace(run.state, failed_checks=5, last_failure="error rate 5% > 1%")
    requests = run.tick()
    assert run.phase() == Phase.FAILED
    _routes_before_alerts(requests)


def test_progress_deadline_rollback_routes_to_primary_before_alerting() -> None:
    run = Run(spec_of()).progressing()
    run.tick()
    run.world.canary.append(Readiness(False, 'deployment "podinfo" exceeded its progress deadline', True))
    requests = run.tick()
    assert run.phase() == Phase.FAILED
    _routes_before_alerts(requests)
    rolling_back = next(r for r in requests if isinstance(r, Notify) and r.alert)
    assert rolling_back.alert.startswith("Progress deadline exceeded")


def test_rollback_webhook_routes_to_primary_before_alerting() -> None:
    run = Run(spec_of(has_webhooks_of=frozenset({HookType.ROLLBACK}))).progressing()
    run.tick()
    run.world.script_hook(HookType.ROLLBACK, HookOutcome(True, "", "manual"))
    requests = run.tick()
    assert run.phase() == Phase.FAILED
    _routes_before_alerts(requests)
    assert next(r for r in requests if isinstance(r, Notify) and r.alert).alert == (
        "Rolling back manual webhook invoked"
    )


def test_a_rollback_whose_status_is_lost_does_not_strand_the_canary() -> None:
    """Found by the kill campaign: the rollback tick scaled the canary down before its status
    (Failed) was saved. When that write was lost (a 409, a crash), the re-run tick started from
    Progressing, found a canary with no pods and halted until the progress deadline (10 min)."""
    run = Run(spec_of(threshold=1)).progressing()
    run.tick()  # weight 5
    before = run.state
    run.world.metrics.append(fail("error rate 69.17% > 1%"))
    run.tick()
    assert run.phase() == Phase.FAILED
    assert run.world.canary_scaled_to_zero is False  # nothing irreversible before Failed is saved
    run.state = before  # the status write of the rollback tick is lost
    run.world.metrics.append(fail("error rate 69.17% > 1%"))
    run.tick()
    assert run.phase() == Phase.FAILED  # decided again at once, not halted on a podless canary
    run.tick()
    assert run.world.canary_scaled_to_zero is True
