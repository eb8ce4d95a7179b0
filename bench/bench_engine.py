"""Benchmark the pure analysis engine: time per decision step (target: under 1 ms).

Runs 100k ticks (``--ticks``) through `drive` with an instant in-memory handler, so only the
engine's own work is measured, and prints p50/p99/max in microseconds for:
- steady: a Progressing tick at 25% with rollout hooks and metrics passing (the common case);
- lifecycle: whole analyses, from Initializing through 10 weight steps to Succeeded, repeated.

The handler answers every request type of ``controller.analysis.Request`` (checked against the
union when the script starts); a request it does not know ends the run with exit status 2 and
the request's name, never with a traceback from deep inside the engine.

    .venv/bin/python bench/bench_engine.py [--ticks 100000]
    .venv/bin/python bench/bench_engine.py --smoke      # 2,000 ticks: checks it still works
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import typing
from collections.abc import Callable

from controller.analysis import (
    AcquireSlot,
    AnalysisSpec,
    CanaryState,
    CheckPrimaryPromoted,
    CheckReady,
    HookOutcome,
    HookType,
    InitializePrimary,
    MetricsOutcome,
    Notify,
    Phase,
    PromotePrimary,
    Readiness,
    Request,
    RequestWriteBack,
    RunMetricChecks,
    RunWebhooks,
    ScaleCanary,
    SetRoutes,
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


class UnansweredRequest(RuntimeError):
    """The engine asked for something this benchmark's world does not answer."""


EFFECTS = (InitializePrimary, ScaleCanary, SetRoutes, PromotePrimary, Notify, RequestWriteBack)
"""Requests whose result the engine ignores (see controller.analysis.requests)."""


def handle(request: Request) -> object:
    """An instant world where everything is ready, every check passes and a slot is always free."""
    match request:
        case CheckReady() | CheckPrimaryPromoted():
            return READY
        case RunWebhooks(hook_type=hook_type):
            return NO_ROLLBACK if hook_type is HookType.ROLLBACK else HOOK_OK
        case RunMetricChecks():
            return METRICS_OK
        case AcquireSlot():
            return True
        case _ if isinstance(request, EFFECTS):
            return None
    raise UnansweredRequest(f"the benchmark's handler does not answer {type(request).__name__}: {request!r}")


def unanswered_request_types() -> list[str]:
    """The members of the engine's Request union that `handle` does not know (should be none)."""
    missing = []
    for kind in typing.get_args(Request):
        known = kind in (CheckReady, CheckPrimaryPromoted, RunWebhooks, RunMetricChecks, AcquireSlot)
        if not known and kind not in EFFECTS:
            missing.append(kind.__name__)
    return missing


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
        raise RuntimeError(f"only {run.successes} promotions in {count} ticks (expected {count // 16 - 1})")
    return samples


def report(name: str, samples: list[float]) -> None:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    print(
        f"{name:<10} ticks={len(ordered):>7}  p50={p50:7.1f} us  p99={p99:7.1f} us  max={ordered[-1]:8.1f} us"
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--ticks", type=int, default=100_000, help="ticks per scenario")
    parser.add_argument("--smoke", action="store_true", help="2,000 ticks per scenario, no target")
    args = parser.parse_args(argv)
    count = 2_000 if args.smoke else args.ticks
    if missing := unanswered_request_types():
        print(f"bench_engine: the handler answers no {', '.join(missing)} (update handle())", file=sys.stderr)
        return 2
    try:
        report("steady", steady(count))
        report("lifecycle", lifecycle(count))
    except UnansweredRequest as exc:
        print(f"bench_engine: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
