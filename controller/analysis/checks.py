"""The guard steps of an analysis tick (readiness, rollback hook, threshold, checks) and `roll_back`.

Invariants:
- A failed check adds exactly one to `failed_checks` per tick, however many metrics failed.
- The rollback happens in the tick whose failed check reaches the threshold (the seed's rollback
  scenario 1). Flagger notices it one interval later, at the start of the next tick; the
  start-of-tick check is kept too, for a state restored with `failed_checks >= threshold`.
- A progress deadline is exceeded when the driver says so (the workload's own deadline) or when
  the canary has not been ready for `progress_deadline_seconds` since `progress_started_at`.
- `roll_back` routes everything to the primary before anything else, then announces the rollback
  (Events and alerts), records the write-back intent, scales the canary down and runs post-rollout
  hooks. No alert is requested before the traffic change: alerts are best-effort, and a rollback
  path that wants to announce its cause passes the notice to `roll_back` (`announce`) instead of
  notifying first.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import replace

from controller.analysis import messages
from controller.analysis.context import Step, TickContext, announce_halt, notify
from controller.analysis.model import TOTAL_WEIGHT, CanaryState, Decision, HookType, Phase, Strategy
from controller.analysis.requests import (
    CheckReady,
    HookOutcome,
    Notify,
    Request,
    RequestWriteBack,
    ScaleCanary,
    SetRoutes,
    ask_hooks,
    ask_metrics,
    ask_readiness,
    perform,
)
from controller.analysis.weights import KUBERNETES_PROVIDER

__all__ = [
    "check_canary_ready",
    "check_primary_ready",
    "check_rollback_hooks",
    "check_threshold",
    "roll_back",
    "run_checks",
    "run_post_rollout_hooks",
]


def check_primary_ready(ctx: TickContext, state: CanaryState) -> Step:
    """Halt while the primary is rolling out (skipped with skipAnalysis, as in Flagger)."""
    if ctx.spec.skip_analysis:
        return state
    readiness = yield from ask_readiness(CheckReady("primary"))
    if readiness.ready:
        return state
    state = yield from announce_halt(
        ctx, state, messages.halt_not_ready(ctx.spec, "primary", readiness.message)
    )
    return ctx.poll_readiness(state)


def check_canary_ready(ctx: TickContext, state: CanaryState) -> Step:
    """Halt while the canary is rolling out; roll back once its progress deadline passes."""
    readiness = yield from ask_readiness(CheckReady("canary"))
    if readiness.ready:
        return replace(state, progress_started_at=None) if state.progress_started_at is not None else state
    started = state.progress_started_at if state.progress_started_at is not None else ctx.now
    deadline = ctx.spec.progress_deadline_seconds
    own_deadline_passed = deadline > 0 and ctx.now - started >= deadline
    if readiness.deadline_exceeded or own_deadline_passed:
        detail = readiness.message or f"canary not ready after {ctx.now - started:.0f}s"
        notice = Notify(
            messages.rolling_back_deadline(ctx.spec, detail),
            "error",
            alert=f"Progress deadline exceeded {detail}",
        )
        return (yield from roll_back(ctx, state, f"progress deadline exceeded: {detail}", announce=(notice,)))
    state = replace(state, progress_started_at=started)
    state = yield from announce_halt(
        ctx, state, messages.halt_not_ready(ctx.spec, "canary", readiness.message)
    )
    return ctx.poll_readiness(state)


def check_rollback_hooks(ctx: TickContext, state: CanaryState) -> Step:
    """Roll back at once when a rollback webhook asks for it."""
    if not ctx.spec.has_hook(HookType.ROLLBACK):
        return state
    outcome = yield from ask_hooks(HookType.ROLLBACK, state.phase)
    if not outcome.ok:
        yield from notify(f"Rollback hook {outcome.webhook} not signaling a rollback")
        return state
    yield from notify(f"Rollback check {outcome.webhook} passed", "warn")
    notice = Notify(
        messages.rolling_back_manual(ctx.spec), "warn", alert="Rolling back manual webhook invoked"
    )
    return (
        yield from roll_back(ctx, state, f"rollback webhook {outcome.webhook} invoked", announce=(notice,))
    )


def check_threshold(ctx: TickContext, state: CanaryState) -> Step:
    if state.failed_checks < ctx.spec.effective_threshold:
        return state
    return (yield from roll_back(ctx, state, state.last_failure or "failed checks threshold reached"))


def run_checks(ctx: TickContext, state: CanaryState) -> Step:
    """Pre-rollout hooks on the first step of an analysis; rollout hooks and metrics after.

    As in Flagger, metrics are skipped while no traffic reaches the canary: weight 0, no
    iteration yet and no mirrored traffic.
    """
    spec = ctx.spec
    idle = state.canary_route_weight == 0 and state.iterations == 0 and not (spec.mirror and state.mirrored)
    if idle:
        return (yield from _start_analysis(ctx, state))
    if spec.has_hook(HookType.ROLLOUT):
        outcome = yield from ask_hooks(HookType.ROLLOUT, Phase.PROGRESSING)
        if not outcome.ok:
            message = messages.external_check_failed(spec, outcome.webhook, outcome.message)
            yield from notify(message, "warn")
            return (yield from _record_failure(ctx, state, _failure_detail(outcome)))
    metrics = yield from ask_metrics()
    if metrics.ok:
        return state
    failures = metrics.failures or ("metric checks failed",)
    for failure in failures:
        yield from notify(messages.halt_with(spec, failure), "warn")
    return (yield from _record_failure(ctx, state, failures[0]))


def _start_analysis(ctx: TickContext, state: CanaryState) -> Step:
    spec = ctx.spec
    yield from notify(messages.starting_analysis(spec))
    if spec.provider == KUBERNETES_PROVIDER:
        yield from _kubernetes_provider_notices(ctx)
    if not spec.has_hook(HookType.PRE_ROLLOUT):
        return state
    outcome = yield from ask_hooks(HookType.PRE_ROLLOUT, Phase.PROGRESSING)
    if outcome.ok:
        yield from notify(f"Pre-rollout check {outcome.webhook} passed")
        return state
    yield from notify(messages.pre_rollout_failed(spec, outcome.webhook, outcome.message), "warn")
    return (yield from _record_failure(ctx, state, _failure_detail(outcome)))


def _kubernetes_provider_notices(ctx: TickContext) -> Generator[Request, object, None]:
    if ctx.spec.strategy is Strategy.AB_TESTING:
        yield from notify("A/B testing is not supported when using the kubernetes provider", "warn")
    if ctx.spec.iterations < 1:
        yield from notify("Progressive traffic is not supported when using the kubernetes provider", "warn")
        yield from notify("Setting canaryAnalysis.iterations: 10", "warn")


def _failure_detail(outcome: HookOutcome) -> str:
    return f"webhook {outcome.webhook} failed {outcome.message}".strip()


def _record_failure(
    ctx: TickContext, state: CanaryState, detail: str
) -> Generator[Request, object, Decision]:
    state = replace(state, failed_checks=state.failed_checks + 1, last_failure=detail)
    if state.failed_checks >= ctx.spec.effective_threshold:
        return (yield from roll_back(ctx, state, detail))
    return ctx.wait_interval(state)


def roll_back(
    ctx: TickContext, state: CanaryState, cause: str, *, announce: Sequence[Notify] = ()
) -> Generator[Request, object, Decision]:
    """Route all traffic to the primary, then announce (``announce``, then the threshold notice),
    record the rolled-back write-back and scale the canary down."""
    spec = ctx.spec
    threshold = spec.effective_threshold
    summary = cause
    yield from perform(SetRoutes(TOTAL_WEIGHT, 0, False))  # first: nothing may hold the traffic back
    yield from announce
    if state.failed_checks >= threshold:
        yield from notify(
            messages.rolling_back_threshold(spec, state.failed_checks),
            "error",
            alert=f"Failed checks threshold reached {state.failed_checks}",
        )
        summary = f"{cause} ({state.failed_checks}/{threshold} failed checks)"
    yield from perform(RequestWriteBack("rolled-back", state.last_applied_spec, summary))
    yield from notify(messages.canary_failed(spec), "warn")
    yield from perform(ScaleCanary(to_zero=True))
    state = replace(
        state.with_phase(Phase.FAILED, ctx.now).with_routes(TOTAL_WEIGHT, 0, False),
        canary_weight=0,
        failed_checks=0,
        iterations=0,
        progress_started_at=None,
        last_failure=summary,
    )
    yield from run_post_rollout_hooks(ctx, state.phase)
    return ctx.wait_interval(state)


def run_post_rollout_hooks(ctx: TickContext, phase: Phase) -> Generator[Request, object, None]:
    """Post-rollout hooks only report; their failure changes no decision."""
    if not ctx.spec.has_hook(HookType.POST_ROLLOUT):
        return
    outcome = yield from ask_hooks(HookType.POST_ROLLOUT, phase)
    if outcome.ok:
        yield from notify(f"Post-rollout check {outcome.webhook} passed")
    else:
        yield from notify(f"Post-rollout hook {outcome.webhook} failed {outcome.message}".rstrip(), "warn")
