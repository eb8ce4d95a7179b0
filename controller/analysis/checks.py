"""The guard steps of an analysis tick (readiness, rollback hook, threshold, checks) and `roll_back`.

Invariants:
- A failed check adds exactly one to `failed_checks` per tick, however many metrics failed.
- The rollback happens in the tick whose failed check reaches the threshold (the seed's rollback
  scenario 1). Flagger notices it one interval later, at the start of the next tick; the
  start-of-tick check is kept too, for a state restored with `failed_checks >= threshold`.
- A progress deadline is exceeded when the driver says so (the workload's own deadline) or when
  the canary has not been ready for `progress_deadline_seconds` since `progress_started_at`.
- A check is passed, failed or inconclusive (it could not measure: `MetricsOutcome.inconclusive`,
  `HookOutcome.inconclusive`). An interval with a failed check is a failed check, whatever else was
  inconclusive; an interval with inconclusive checks and no failed one is inconclusive, and the
  canary does not advance in it. `AnalysisSpec.on_inconclusive` decides what it counts toward:
  `count` adds it to `failed_checks` (Flagger's behaviour) and to `inconclusive_checks`; `hold`
  counts it in `inconclusive_checks` only, resets that count at the next conclusive interval, and
  gives up at `effective_inconclusive_threshold` or once the hold lasted
  `progress_deadline_seconds`.
- A rollback is a verdict (write-back `rolled-back`, which may quarantine the tag) only when the
  measured failures alone reached the threshold, or when the canary never became ready, or a
  rollback webhook asked for it. A rollback reached through inconclusive checks is written back
  as `inconclusive`: traffic goes back to the primary all the same, the tag is never quarantined.
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
    MetricsOutcome,
    Notify,
    Request,
    RequestWriteBack,
    SetRoutes,
    WriteBackResult,
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
    """A state restored past a threshold rolls back at the start of the tick."""
    spec = ctx.spec
    if state.failed_checks >= spec.effective_threshold:
        cause = state.last_failure or "failed checks threshold reached"
        return (yield from roll_back(ctx, state, cause, result=threshold_verdict(ctx, state)))
    if spec.holds and state.inconclusive_checks >= spec.effective_inconclusive_threshold:
        return (
            yield from _give_up(
                ctx, state, state.last_inconclusive or "inconclusive checks threshold reached"
            )
        )
    return state


def threshold_verdict(ctx: TickContext, state: CanaryState) -> WriteBackResult:
    """`rolled-back` when the measured failures alone reached the threshold, else `inconclusive`
    (with the `count` policy, inconclusive checks are part of `failed_checks`)."""
    counted = 0 if ctx.spec.holds else state.inconclusive_checks
    measured = state.failed_checks - counted
    return "rolled-back" if measured >= ctx.spec.effective_threshold else "inconclusive"


def run_checks(ctx: TickContext, state: CanaryState) -> Step:
    """Pre-rollout hooks on the first step of an analysis; rollout hooks and metrics after.

    As in Flagger, metrics are skipped while no traffic reaches the canary: weight 0, no
    iteration yet and no mirrored traffic.
    """
    spec = ctx.spec
    idle = state.canary_route_weight == 0 and state.iterations == 0 and not (spec.mirror and state.mirrored)
    if idle:
        return (yield from _start_analysis(ctx, state))
    unmeasured: list[str] = []
    if spec.has_hook(HookType.ROLLOUT):
        outcome = yield from ask_hooks(HookType.ROLLOUT, Phase.PROGRESSING)
        if not outcome.ok and outcome.inconclusive:
            unmeasured.append(_inconclusive_detail(outcome))
        elif not outcome.ok:
            message = messages.external_check_failed(spec, outcome.webhook, outcome.message)
            yield from notify(message, "warn")
            return (yield from _record_failure(ctx, state, _failure_detail(outcome)))
    metrics = yield from ask_metrics()
    failures = _measured_failures(metrics)
    if failures:
        for failure in failures:
            yield from notify(messages.halt_with(spec, failure), "warn")
        return (yield from _record_failure(ctx, state, failures[0]))
    unmeasured += metrics.inconclusive
    if unmeasured:
        return (yield from _record_inconclusive(ctx, state, unmeasured))
    return (yield from _conclusive(ctx, state))


def _measured_failures(metrics: MetricsOutcome) -> tuple[str, ...]:
    if metrics.ok or metrics.failures:
        return metrics.failures
    return () if metrics.inconclusive else ("metric checks failed",)


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
        return (yield from _conclusive(ctx, state))
    if outcome.inconclusive:
        return (yield from _record_inconclusive(ctx, state, [_inconclusive_detail(outcome)]))
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


def _inconclusive_detail(outcome: HookOutcome) -> str:
    return f"webhook {outcome.webhook} inconclusive ({outcome.inconclusive}): {outcome.message}".rstrip(": ")


def _end_hold(ctx: TickContext, state: CanaryState) -> Generator[Request, object, CanaryState]:
    """A conclusive interval ends a hold (policy `hold`): the inconclusive run starts again at 0."""
    if not ctx.spec.holds or state.inconclusive_checks == 0:
        return state
    yield from notify(messages.checks_answer_again(ctx.spec, state.inconclusive_checks))
    return replace(state, inconclusive_checks=0, hold_started_at=None, last_inconclusive="")


def _conclusive(ctx: TickContext, state: CanaryState) -> Step:
    return (yield from _end_hold(ctx, state))


def _record_failure(
    ctx: TickContext, state: CanaryState, detail: str
) -> Generator[Request, object, Decision]:
    state = yield from _end_hold(ctx, state)
    state = replace(state, failed_checks=state.failed_checks + 1, last_failure=detail)
    if state.failed_checks >= ctx.spec.effective_threshold:
        return (yield from roll_back(ctx, state, detail, result=threshold_verdict(ctx, state)))
    return ctx.wait_interval(state)


def _record_inconclusive(
    ctx: TickContext, state: CanaryState, details: Sequence[str]
) -> Generator[Request, object, Decision]:
    """An interval without a failed check but with checks that could not measure: no advance."""
    spec = ctx.spec
    for detail in details:
        yield from notify(messages.halt_with(spec, detail), "warn")
    detail = details[0]
    if not spec.holds:  # count: as a failed check, as Flagger does
        state = replace(
            state,
            failed_checks=state.failed_checks + 1,
            inconclusive_checks=state.inconclusive_checks + 1,
            last_failure=detail,
            last_inconclusive=detail,
        )
        if state.failed_checks >= spec.effective_threshold:
            return (yield from roll_back(ctx, state, detail, result=threshold_verdict(ctx, state)))
        return ctx.wait_interval(state)
    started = state.hold_started_at if state.hold_started_at is not None else ctx.now
    state = replace(
        state,
        inconclusive_checks=state.inconclusive_checks + 1,
        last_inconclusive=detail,
        hold_started_at=started,
    )
    if state.inconclusive_checks >= spec.effective_inconclusive_threshold:
        return (yield from _give_up(ctx, state, detail))
    deadline = spec.progress_deadline_seconds
    held = ctx.now - started
    if deadline > 0 and held >= deadline:
        notice = Notify(
            messages.rolling_back_hold_deadline(spec, held),
            "error",
            alert=f"Checks inconclusive for {held:.0f}s, past the progress deadline",
        )
        return (
            yield from roll_back(
                ctx,
                state,
                f"{detail} (inconclusive for {held:.0f}s)",
                announce=(notice,),
                result="inconclusive",
            )
        )
    return ctx.wait_interval(state)


def _give_up(ctx: TickContext, state: CanaryState, cause: str) -> Generator[Request, object, Decision]:
    """`hold`: the inconclusive threshold is reached; roll back without a verdict."""
    count, limit = state.inconclusive_checks, ctx.spec.effective_inconclusive_threshold
    notice = Notify(
        messages.rolling_back_inconclusive(ctx.spec, count),
        "error",
        alert=f"Inconclusive checks threshold reached {count}",
    )
    summary = f"{cause} ({count}/{limit} inconclusive checks)"
    return (yield from roll_back(ctx, state, summary, announce=(notice,), result="inconclusive"))


def roll_back(
    ctx: TickContext,
    state: CanaryState,
    cause: str,
    *,
    announce: Sequence[Notify] = (),
    result: WriteBackResult = "rolled-back",
) -> Generator[Request, object, Decision]:
    """Route all traffic to the primary, then announce (``announce``, then the threshold notice),
    record the write-back (``result``: ``rolled-back`` for a verdict, ``inconclusive`` without
    one) and enter Failed; the next tick, moments later, scales the canary down."""
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
        if result == "inconclusive" and not spec.holds:
            summary = f"{cause} ({state.failed_checks}/{threshold} failed checks, {state.inconclusive_checks} inconclusive)"
    yield from perform(RequestWriteBack(result, state.last_applied_spec, summary))
    yield from notify(messages.canary_failed(spec), "warn")
    # The canary is scaled down by the next tick, once Failed is saved (detect_revision): scaled
    # down here, a tick whose status write is lost (a conflict, a crash) would leave a Progressing
    # Canary whose canary has no pods, halted until its progress deadline.
    state = replace(
        state.with_phase(Phase.FAILED, ctx.now).with_routes(TOTAL_WEIGHT, 0, False),
        canary_weight=0,
        failed_checks=0,
        iterations=0,
        progress_started_at=None,
        last_failure=summary,
        inconclusive_checks=0,
        hold_started_at=None,
    )
    yield from run_post_rollout_hooks(ctx, state.phase)
    return ctx.poll_finalising(state)


def run_post_rollout_hooks(ctx: TickContext, phase: Phase) -> Generator[Request, object, None]:
    """Post-rollout hooks only report; their failure changes no decision."""
    if not ctx.spec.has_hook(HookType.POST_ROLLOUT):
        return
    outcome = yield from ask_hooks(HookType.POST_ROLLOUT, phase)
    if outcome.ok:
        yield from notify(f"Post-rollout check {outcome.webhook} passed")
    else:
        yield from notify(f"Post-rollout hook {outcome.webhook} failed {outcome.message}".rstrip(), "warn")
