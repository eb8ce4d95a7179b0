"""Benchmark the pure analysis engine: time per decision step (target: under 1 ms).

Runs 100k ticks (override with the first argument) through `drive` with an instant in-memory
handler, so only the engine's own work is measured, and prints p50/p99/max in microseconds for:
- steady: a Progressing tick at 25% with rollout hooks and metrics passing (the common case);
- lifecycle: whole analyses, from Initializing through 10 weight steps to Succeeded, repeated.

    .venv/bin/python bench/bench_engine.py [ticks]
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable

from controller.analysis import (
    AnalysisSpec,
    CanaryState,
    CheckPrimaryPromoted,
    CheckReady,
    HookOutcome,
    HookType,
    MetricsOutcome,
    Phase,
    Readiness,
    Request,
    RunMetricChecks,
    RunWebhooks,
    drive,
    tick,
)

READY = Readiness(True)
HOOK_OK = HookOutcome(True, "", "load-test")
NO_ROLLBACK = HookOutcome(False, "", "rollback")
METRICS_OK = MetricsOutcome(True)

SPEC = AnalysisSpec(
    name="podinfo",
    namespace="test",
    threshold=5,
    max_weight=50,
    step_weight=5,
    has_webhooks_of=frozenset({HookType.ROLLOUT, HookType.ROLLBACK, HookType.POST_ROLLOUT}),
)


def handle(request: Request) -> object:
    """An instant world where everything is ready and every check passes."""
    if isinstance(request, CheckReady | CheckPrimaryPromoted):
        return READY
    if isinstance(request, RunWebhooks):
        return NO_ROLLBACK if request.hook_type is HookType.ROLLBACK else HOOK_OK
    if isinstance(request, RunMetricChecks):
        return METRICS_OK
    return None


def time_ticks(count: int, next_tick: Callable[[], None]) -> list[float]:
    samples: list[float] = []
    clock = time.perf_counter_ns
    for _ in range(count):
        start = clock()
        next_tick()
        samples.append((clock() - start) / 1_000.0)
    return samples


def steady(count: int) -> list[float]:
    state = CanaryState(
        phase=Phase.PROGRESSING,
        canary_weight=25,
        primary_route_weight=75,
        canary_route_weight=25,
        last_applied_spec="rev-b",
        last_promoted_spec="rev-a",
    )

    def one() -> None:
        decision = drive(tick(SPEC, state, 1_000.0, "rev-b"), handle)
        if decision.state.canary_weight != 30:
            raise AssertionError(decision)

    return time_ticks(count, one)


class Lifecycle:
    """Successive ticks of one canary; the target gets a new revision every 16 ticks, enough
    for a whole analysis (initialise, detect, 10 weight steps, promote, finalise)."""

    def __init__(self) -> None:
        self.state = CanaryState()
        self.now = 0.0
        self.ticks = 0
        self.successes = 0

    def one(self) -> None:
        revision = f"rev-{self.ticks // 16}"
        decision = drive(tick(SPEC, self.state, self.now, revision), handle)
        if decision.state.phase is Phase.SUCCEEDED and self.state.phase is not Phase.SUCCEEDED:
            self.successes += 1
        self.state = decision.state
        self.now += decision.requeue_after
        self.ticks += 1


def lifecycle(count: int) -> list[float]:
    run = Lifecycle()
    samples = time_ticks(count, run.one)
    if run.successes < count // 16 - 1:
        raise AssertionError(f"only {run.successes} promotions in {count} ticks")
    return samples


def report(name: str, samples: list[float]) -> None:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    print(
        f"{name:<10} ticks={len(ordered):>7}  p50={p50:7.1f} us  p99={p99:7.1f} us  max={ordered[-1]:8.1f} us"
    )


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    report("steady", steady(count))
    report("lifecycle", lifecycle(count))


if __name__ == "__main__":
    main()
