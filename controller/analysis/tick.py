"""One analysis tick, and the drivers that feed it.

`tick(spec, state, now, revision)` is a generator: it yields `Request`s, receives their results
and returns a `Decision`. It performs no I/O and reads no clock, so one flow serves a synchronous
test (`drive`) and the asyncio operator (`drive_async`) alike:

    decision = await drive_async(tick(spec, state, now, revision), handle)

where `handle(request)` is an `async` function that performs the request (patch a Deployment,
call webhooks, query Prometheus...) and returns its result. A hand-written async driver does the
same thing as `drive_async`: `request = next(flow)`, then repeatedly
`request = flow.send(await handle(request))` until `StopIteration.value` carries the Decision.

Invariants:
- A tick's effects happen before its Decision is persisted. Every effect is idempotent and the
  write-back intent has a deterministic id, so a tick that fails or is interrupted half-way is
  simply replayed from the last persisted state by the next tick; nothing is lost or doubled
  except, at worst, an Event.
- If the handler raises, the flow is closed and the exception propagates: the driver keeps the
  old state and requeues.
- Suspended canaries and the Terminating/Terminated phases (owned by the finaliser) yield nothing
  and keep their state.
- Tick order for Progressing/WaitingPromotion follows Flagger's `advanceCanary`: primary ready,
  revision change, canary ready (or deadline), skipAnalysis, rollback hook, threshold, checks,
  strategy step.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from dataclasses import replace
from typing import TypeAlias

from controller.analysis.checks import (
    check_canary_ready,
    check_primary_ready,
    check_rollback_hooks,
    check_threshold,
    run_checks,
)
from controller.analysis.context import PhaseStep, Step, TickContext
from controller.analysis.lifecycle import (
    await_rollout_approval,
    detect_revision,
    initialize,
    restart_analysis,
)
from controller.analysis.model import AnalysisSpec, CanaryState, Decision, Phase
from controller.analysis.promotion import finalise, promote_without_analysis, shift_to_primary
from controller.analysis.requests import Request
from controller.analysis.strategy import advance

__all__ = ["Handler", "TickFlow", "analyse", "drive", "drive_async", "tick"]

TickFlow: TypeAlias = Generator[Request, object, Decision]
Handler: TypeAlias = Callable[[Request], object]

_GUARDS: tuple[Callable[[TickContext, CanaryState], Step], ...] = (
    check_rollback_hooks,
    check_threshold,
    run_checks,
)


def tick(spec: AnalysisSpec, state: CanaryState, now: float, revision: str) -> TickFlow:
    """Decide one step of the canary's life; see the module docstring."""
    ctx = TickContext(spec, now, revision)
    if spec.suspend:
        return ctx.wait_interval(state)
    return (yield from _STEPS[state.phase](ctx, state))


def _idle(ctx: TickContext, state: CanaryState) -> PhaseStep:
    yield from ()
    return ctx.wait_interval(state)


def analyse(ctx: TickContext, state: CanaryState) -> PhaseStep:
    """Progressing / WaitingPromotion: guard, check, then advance the strategy."""
    outcome = yield from check_primary_ready(ctx, state)
    if isinstance(outcome, Decision):
        return outcome
    if ctx.revision != outcome.last_applied_spec:
        return (yield from restart_analysis(ctx, outcome))
    outcome = yield from check_canary_ready(ctx, outcome)
    if isinstance(outcome, Decision):
        return outcome
    if ctx.spec.skip_analysis:
        return (yield from promote_without_analysis(ctx, outcome))
    elapsed = ctx.now - outcome.last_analysis_at if outcome.last_analysis_at is not None else None
    if elapsed is not None and 0 <= elapsed < ctx.spec.interval_seconds:
        return Decision(outcome, ctx.spec.interval_seconds - elapsed)
    outcome = replace(outcome, last_analysis_at=ctx.now)
    for guard in _GUARDS:
        outcome = yield from guard(ctx, outcome)
        if isinstance(outcome, Decision):
            return outcome
    return (yield from advance(ctx, outcome))


_STEPS: dict[Phase, Callable[[TickContext, CanaryState], PhaseStep]] = {
    Phase.INITIALIZING: initialize,
    Phase.INITIALIZED: detect_revision,
    Phase.SUCCEEDED: detect_revision,
    Phase.FAILED: detect_revision,
    Phase.WAITING: await_rollout_approval,
    Phase.PROGRESSING: analyse,
    Phase.WAITING_PROMOTION: analyse,
    Phase.PROMOTING: shift_to_primary,
    Phase.FINALISING: finalise,
    Phase.TERMINATING: _idle,
    Phase.TERMINATED: _idle,
}


def drive(flow: TickFlow, handler: Handler) -> Decision:
    """Run a tick synchronously, answering each request with `handler(request)`."""
    try:
        request = next(flow)
        while True:
            request = flow.send(handler(request))
    except StopIteration as stop:
        decision: Decision = stop.value
        return decision
    finally:
        flow.close()


async def drive_async(flow: TickFlow, handler: Callable[[Request], Awaitable[object]]) -> Decision:
    """Run a tick on an event loop, awaiting `handler(request)` for each request."""
    try:
        request = next(flow)
        while True:
            request = flow.send(await handler(request))
    except StopIteration as stop:
        decision: Decision = stop.value
        return decision
    finally:
        flow.close()
