"""Traffic arithmetic: max weight, next step, step weights, and the effective strategy."""

from __future__ import annotations

from analysis_world import spec_of

from controller.analysis import Strategy, effective_plan, max_weight, next_step_weight
from controller.analysis.weights import advance_weight


def test_step_weight_advances_and_caps_at_max_weight() -> None:
    spec = spec_of(step_weight=20, max_weight=50)
    weights = [0]
    while weights[-1] < max_weight(spec):
        weights.append(advance_weight(spec, weights[-1]))
    assert weights == [0, 20, 40, 50]


def test_max_weight_defaults_to_total() -> None:
    assert max_weight(spec_of(max_weight=0)) == 100
    assert max_weight(spec_of(max_weight=150)) == 100


def test_step_weights_take_precedence() -> None:
    spec = spec_of(step_weights=(1, 2, 10, 80), step_weight=0, max_weight=50)
    assert max_weight(spec) == 80
    weights = [0]
    while weights[-1] < max_weight(spec):
        weights.append(advance_weight(spec, weights[-1]))
    assert weights == [0, 1, 2, 10, 80]


def test_next_step_weight_with_step_weights_off_the_list() -> None:
    spec = spec_of(step_weights=(10, 20, 100), step_weight=0)
    assert next_step_weight(spec, 15) == 85  # not on the list: jump to the total
    assert next_step_weight(spec, 100) == 1  # at full weight: any step moves on to promotion
    assert next_step_weight(spec_of(step_weights=(120,), step_weight=0), 0) == 100


def test_no_step_weight_means_no_shifting() -> None:
    assert next_step_weight(spec_of(step_weight=0), 0) == 0


def test_effective_plan() -> None:
    assert effective_plan(spec_of()) == (Strategy.CANARY, 0)
    assert effective_plan(spec_of(strategy=Strategy.AB_TESTING, iterations=10)) == (Strategy.AB_TESTING, 10)
    assert effective_plan(spec_of(strategy=Strategy.BLUE_GREEN, iterations=0)) == (Strategy.CANARY, 0)
    assert effective_plan(spec_of(provider="kubernetes")) == (Strategy.BLUE_GREEN, 10)
    kubernetes_ab = spec_of(provider="kubernetes", strategy=Strategy.AB_TESTING, iterations=3)
    assert effective_plan(kubernetes_ab) == (Strategy.BLUE_GREEN, 3)
