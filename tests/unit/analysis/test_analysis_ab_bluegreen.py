"""A/B testing, blue/green (with and without mirroring) and the kubernetes provider."""

from __future__ import annotations

from analysis_world import Run, effects, messages, spec_of

from controller.analysis import (
    CheckPrimaryPromoted,
    HookOutcome,
    HookType,
    Notify,
    Phase,
    PromotePrimary,
    RunMetricChecks,
    SetRoutes,
    Strategy,
)


def test_ab_testing_counts_iterations_then_promotes() -> None:
    run = Run(spec_of(strategy=Strategy.AB_TESTING, iterations=3)).progressing()
    first = run.tick()
    assert RunMetricChecks() not in first
    assert SetRoutes(0, 100, False) in first  # applied to the matched traffic by the router
    assert messages(first) == [
        "Starting canary analysis for podinfo.test",
        "Advance podinfo.test canary iteration 1/3",
    ]
    assert run.state.canary_weight == 0  # Flagger's status weight is untouched by A/B
    for expected in (2, 3):
        requests = run.tick()
        assert RunMetricChecks() in requests
        assert messages(requests) == [f"Advance podinfo.test canary iteration {expected}/3"]
    requests = run.tick()
    assert PromotePrimary() in requests and run.phase() == Phase.PROMOTING
    requests = run.tick()
    assert requests == [
        CheckPrimaryPromoted(),
        Notify("Routing all traffic to primary"),
        SetRoutes(100, 0, False),
    ]


def test_ab_testing_confirm_promotion_keeps_iterations_while_waiting() -> None:
    spec = spec_of(
        strategy=Strategy.AB_TESTING, iterations=1, has_webhooks_of=frozenset({HookType.CONFIRM_PROMOTION})
    )
    run = Run(spec).progressing()
    run.tick()
    run.world.script_hook(HookType.CONFIRM_PROMOTION, HookOutcome(False, "", "approval"))
    run.tick()
    assert run.phase() == Phase.WAITING_PROMOTION and run.state.iterations == 1
    run.tick()
    assert run.phase() == Phase.PROMOTING


def test_blue_green_routes_all_traffic_to_canary_before_promoting() -> None:
    run = Run(spec_of(strategy=Strategy.BLUE_GREEN, iterations=2, step_weight=0, max_weight=0)).progressing()
    first = run.tick()
    assert not any(isinstance(r, SetRoutes) for r in first)
    assert messages(first) == [
        "Starting canary analysis for podinfo.test",
        "Advance podinfo.test canary iteration 1/2",
    ]
    second = run.tick()
    assert messages(second) == ["Advance podinfo.test canary iteration 2/2"]
    third = run.tick()
    assert messages(third) == ["Routing all traffic to canary"]
    assert SetRoutes(0, 100, False) in third and run.state.iterations == 3
    fourth = run.tick()
    assert RunMetricChecks() in fourth  # one more interval with all traffic on the canary
    assert PromotePrimary() in fourth and run.phase() == Phase.PROMOTING
    fifth = run.tick()
    assert SetRoutes(100, 0, False) in fifth and run.phase() == Phase.FINALISING
    run.tick()
    assert run.phase() == Phase.SUCCEEDED
    assert run.world.write_backs[-1].summary == "blue-green analysis passed (0/5 failed checks)"


def test_blue_green_mirroring_mirrors_during_iterations() -> None:
    run = Run(spec_of(strategy=Strategy.BLUE_GREEN, iterations=2, mirror=True)).progressing()
    first = run.tick()
    assert SetRoutes(100, 0, True) in first
    second = run.tick()
    assert RunMetricChecks() in second
    assert not any(isinstance(r, SetRoutes) for r in second)  # already mirroring
    third = run.tick()
    assert messages(third) == ["Stop traffic mirroring and route all traffic to canary"]
    assert SetRoutes(0, 100, False) in third


def test_kubernetes_provider_forces_blue_green_without_routing() -> None:
    run = Run(spec_of(provider="kubernetes")).progressing()  # stepWeight 5 is ignored
    first = run.tick()
    assert messages(first) == [
        "Starting canary analysis for podinfo.test",
        "Progressive traffic is not supported when using the kubernetes provider",
        "Setting canaryAnalysis.iterations: 10",
        "Advance podinfo.test canary iteration 1/10",
    ]
    while run.phase() == Phase.PROGRESSING:
        requests = run.tick()
        assert not any(isinstance(r, SetRoutes) for r in requests)
    assert run.phase() == Phase.PROMOTING
    promoting = run.tick()
    assert effects(promoting) == [CheckPrimaryPromoted()] and messages(promoting) == []
    assert run.phase() == Phase.FINALISING
    run.tick()
    assert run.phase() == Phase.SUCCEEDED


def test_kubernetes_provider_drops_ab_testing() -> None:
    run = Run(spec_of(provider="kubernetes", strategy=Strategy.AB_TESTING, iterations=2)).progressing()
    first = run.tick()
    assert messages(first)[:2] == [
        "Starting canary analysis for podinfo.test",
        "A/B testing is not supported when using the kubernetes provider",
    ]
    assert messages(first)[-1] == "Advance podinfo.test canary iteration 1/2"


def test_blue_green_promotion_gate_is_asked_before_routing_to_canary() -> None:
    spec = spec_of(
        strategy=Strategy.BLUE_GREEN, iterations=1, has_webhooks_of=frozenset({HookType.CONFIRM_PROMOTION})
    )
    run = Run(spec).progressing()
    run.tick()
    run.world.script_hook(HookType.CONFIRM_PROMOTION, HookOutcome(False, "", "approval"))
    requests = run.tick()
    assert run.phase() == Phase.WAITING_PROMOTION
    assert not any(isinstance(r, SetRoutes) for r in requests)
    assert run.state.iterations == 1
    requests = run.tick()
    assert SetRoutes(0, 100, False) in requests
    assert messages(requests) == [
        "Confirm-promotion check confirm-promotion-hook passed",
        "Routing all traffic to canary",
    ]
    requests = run.tick()  # the gate is asked again before the spec is copied, as in Flagger
    assert messages(requests)[0] == "Confirm-promotion check confirm-promotion-hook passed"
    assert run.phase() == Phase.PROMOTING
