"""Traffic arithmetic: the maximum canary weight, the next step, and the effective strategy.

Invariants:
- Weights are integers in [0, TOTAL_WEIGHT]; the canary weight never exceeds `max_weight`.
- `stepWeights` wins over `maxWeight`/`stepWeight` when both are set, as in Flagger.
- The `kubernetes` provider cannot split traffic, so it always means blue/green with at least
  one iteration (Flagger forces 10 when none is set).
"""

from __future__ import annotations

from controller.analysis.model import TOTAL_WEIGHT, AnalysisSpec, Strategy

__all__ = [
    "KUBERNETES_DEFAULT_ITERATIONS",
    "KUBERNETES_PROVIDER",
    "advance_weight",
    "effective_plan",
    "max_weight",
    "next_step_weight",
]

KUBERNETES_PROVIDER = "kubernetes"
KUBERNETES_DEFAULT_ITERATIONS = 10


def max_weight(spec: AnalysisSpec) -> int:
    """The weight at which the canary is promoted."""
    if spec.step_weights:
        return min(TOTAL_WEIGHT, spec.step_weights[-1])
    if spec.max_weight > 0:
        return min(TOTAL_WEIGHT, spec.max_weight)
    return TOTAL_WEIGHT


def next_step_weight(spec: AnalysisSpec, canary_weight: int) -> int:
    """How much weight the next step adds (0: the spec asks for no traffic shifting)."""
    if spec.step_weight > 0 or not spec.step_weights:
        return max(spec.step_weight, 0)
    max_step = TOTAL_WEIGHT - canary_weight
    if max_step <= 0:
        return 1  # any non-zero step moves a canary at full weight on to promotion
    if canary_weight == 0:
        return min(max_step, spec.step_weights[0])
    for current, following in zip(spec.step_weights, spec.step_weights[1:], strict=False):
        if current == canary_weight:
            return min(max_step, following - canary_weight)
    return max_step


def advance_weight(spec: AnalysisSpec, canary_weight: int) -> int:
    """The canary weight after one step, capped at `max_weight`."""
    return max(0, min(canary_weight + next_step_weight(spec, canary_weight), max_weight(spec)))


def effective_plan(spec: AnalysisSpec) -> tuple[Strategy, int]:
    """The strategy actually run and its number of iterations."""
    if spec.provider == KUBERNETES_PROVIDER:
        iterations = spec.iterations if spec.iterations >= 1 else KUBERNETES_DEFAULT_ITERATIONS
        return Strategy.BLUE_GREEN, iterations
    if spec.strategy is not Strategy.CANARY and spec.iterations < 1:
        return Strategy.CANARY, 0
    return spec.strategy, spec.iterations
