"""After the analysis passed: shift traffic back to the new primary, then finish.

Invariants:
- Promoting waits for the primary to finish rolling out the promoted spec before moving any
  traffic; with `stepWeightPromotion` traffic moves one step per interval, otherwise all at once.
- The `kubernetes` provider has no routes to move, so Promoting goes straight to Finalising.
- Finalising scales the canary down and only then reports Succeeded; `last_promoted_spec` becomes
  the analysed revision (`last_applied_spec`), not whatever the target says now, and the
  "promoted" write-back is recorded for that revision.
- With skipAnalysis the canary is promoted without metrics, straight to Succeeded (as Flagger),
  and without post-rollout hooks (as Flagger).
"""

from __future__ import annotations

from dataclasses import replace

from controller.analysis import messages
from controller.analysis.checks import run_post_rollout_hooks
from controller.analysis.context import PhaseStep, TickContext, announce_halt, notify
from controller.analysis.model import TOTAL_WEIGHT, CanaryState, Phase
from controller.analysis.requests import (
    CheckPrimaryPromoted,
    PromotePrimary,
    RequestWriteBack,
    ScaleCanary,
    SetRoutes,
    ask_readiness,
    perform,
)
from controller.analysis.weights import KUBERNETES_PROVIDER, effective_plan

__all__ = ["finalise", "promote_without_analysis", "shift_to_primary"]


def shift_to_primary(ctx: TickContext, state: CanaryState) -> PhaseStep:
    """Promoting: once the primary runs the new spec, move traffic back to it."""
    spec = ctx.spec
    readiness = yield from ask_readiness(CheckPrimaryPromoted())
    if not readiness.ready:
        state = yield from announce_halt(
            ctx, state, messages.halt_not_ready(spec, "primary", readiness.message)
        )
        return ctx.poll_readiness(state)
    if spec.provider == KUBERNETES_PROVIDER:
        return ctx.poll_finalising(_finalising(ctx, state))
    step = spec.step_weight_promotion
    if step <= 0 or state.canary_route_weight <= 0:
        yield from notify("Routing all traffic to primary")
        yield from perform(SetRoutes(TOTAL_WEIGHT, 0, False))
        return ctx.poll_finalising(_finalising(ctx, state))
    primary = min(TOTAL_WEIGHT, state.primary_route_weight + step)
    canary = max(0, state.canary_route_weight - step)
    yield from perform(SetRoutes(primary, canary, False))
    yield from notify(messages.advance_primary_weight(spec, primary))
    if primary >= TOTAL_WEIGHT:
        return ctx.poll_finalising(_finalising(ctx, state))
    return ctx.wait_interval(replace(state.with_routes(primary, canary, False), canary_weight=canary))


def _finalising(ctx: TickContext, state: CanaryState) -> CanaryState:
    return replace(
        state.with_phase(Phase.FINALISING, ctx.now).with_routes(TOTAL_WEIGHT, 0, False),
        canary_weight=0,
        halt_notified_at=None,
    )


def finalise(ctx: TickContext, state: CanaryState) -> PhaseStep:
    """Finalising: scale the canary down, record the promotion, report success."""
    spec = ctx.spec
    yield from perform(ScaleCanary(to_zero=True))
    yield from perform(RequestWriteBack("promoted", state.last_applied_spec, _promotion_summary(ctx, state)))
    state = _succeeded(ctx, state)
    yield from run_post_rollout_hooks(ctx, Phase.SUCCEEDED)
    yield from notify(messages.promotion_completed(spec), alert=messages.promotion_completed_alert())
    return ctx.wait_interval(state)


def promote_without_analysis(ctx: TickContext, state: CanaryState) -> PhaseStep:
    """skipAnalysis: all traffic to the primary, copy the spec, scale the canary down, Succeeded."""
    spec = ctx.spec
    yield from perform(SetRoutes(TOTAL_WEIGHT, 0, False))
    yield from notify(messages.copying_spec(spec))
    yield from perform(PromotePrimary())
    yield from perform(ScaleCanary(to_zero=True))
    yield from perform(RequestWriteBack("promoted", state.last_applied_spec, "canary analysis skipped"))
    state = _succeeded(ctx, state)
    yield from notify(messages.promotion_skipped(spec), alert=messages.analysis_skipped_alert())
    return ctx.wait_interval(state)


def _succeeded(ctx: TickContext, state: CanaryState) -> CanaryState:
    return replace(
        state.with_phase(Phase.SUCCEEDED, ctx.now).with_routes(TOTAL_WEIGHT, 0, False),
        canary_weight=0,
        iterations=0,
        last_promoted_spec=state.last_applied_spec,
        progress_started_at=None,
        halt_notified_at=None,
    )


def _promotion_summary(ctx: TickContext, state: CanaryState) -> str:
    strategy, _ = effective_plan(ctx.spec)
    return (
        f"{strategy.value} analysis passed "
        f"({state.failed_checks}/{ctx.spec.effective_threshold} failed checks)"
    )
