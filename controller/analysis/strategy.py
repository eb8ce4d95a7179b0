"""One strategy step per passing interval: shift weight, count an iteration, or promote.

Invariants:
- Canary: each passing interval adds one step (capped at `max_weight`); the confirm-traffic-increase
  gate is asked before a step that really increases traffic, and never while only mirroring.
  With `mirror`, the first step mirrors traffic at weight 0 and the next one shifts real traffic.
- A/B testing: every passing interval routes the matched traffic to the canary and counts one
  iteration; promotion follows `iterations` passing intervals.
- Blue/green: iterations are counted with all traffic on the primary (mirrored to the canary when
  `mirror` is set); after the last one all traffic goes to the canary for one more interval,
  then the canary is promoted. The `kubernetes` provider cannot route, so it skips those steps.
- Promotion is always behind the confirm-promotion gate; a closed gate means WaitingPromotion.
  Unlike Flagger, iterations are kept while waiting (Flagger resets them and patches them back).
"""

from __future__ import annotations

from dataclasses import replace

from controller.analysis import messages
from controller.analysis.context import PhaseStep, Step, TickContext, notify
from controller.analysis.model import TOTAL_WEIGHT, CanaryState, HookType, Phase, Strategy
from controller.analysis.requests import PromotePrimary, SetRoutes, ask_hooks, perform
from controller.analysis.weights import (
    KUBERNETES_PROVIDER,
    advance_weight,
    effective_plan,
    max_weight,
    next_step_weight,
)

__all__ = [
    "advance",
    "advance_ab_testing",
    "advance_blue_green",
    "advance_canary",
    "confirm_promotion",
    "promote",
]


def advance(ctx: TickContext, state: CanaryState) -> PhaseStep:
    """Run the strategy step of a tick whose checks passed."""
    strategy, iterations = effective_plan(ctx.spec)
    if strategy is Strategy.AB_TESTING:
        return (yield from advance_ab_testing(ctx, state, iterations))
    if strategy is Strategy.BLUE_GREEN:
        return (yield from advance_blue_green(ctx, state, iterations))
    return (yield from advance_canary(ctx, state))


def advance_canary(ctx: TickContext, state: CanaryState) -> PhaseStep:
    spec = ctx.spec
    weight = state.canary_route_weight
    step = next_step_weight(spec, weight)
    if step <= 0:
        return ctx.wait_interval(state)  # no stepWeight: Flagger keeps analysing without shifting
    if weight >= max_weight(spec):
        return (yield from promote(ctx, state))
    if (
        not state.mirrored
        and state.phase is Phase.PROGRESSING
        and spec.has_hook(HookType.CONFIRM_TRAFFIC_INCREASE)
    ):
        gate = yield from ask_hooks(HookType.CONFIRM_TRAFFIC_INCREASE, Phase.PROGRESSING)
        if not gate.ok:
            message = messages.halt_waiting_traffic_approval(spec, gate.webhook)
            yield from notify(message, "warn", alert=message)
            return ctx.wait_interval(state)
        yield from notify(f"Confirm-traffic-increase check {gate.webhook} passed")
    if spec.mirror and weight == 0 and not state.mirrored:
        canary, mirrored = 0, True
    else:
        canary, mirrored = advance_weight(spec, weight), False
    primary = TOTAL_WEIGHT - canary
    yield from perform(SetRoutes(primary, canary, mirrored))
    state = replace(state.with_routes(primary, canary, mirrored), canary_weight=canary)
    yield from notify(messages.advance_canary_weight(spec, canary))
    return ctx.wait_interval(state)


def advance_ab_testing(ctx: TickContext, state: CanaryState, iterations: int) -> PhaseStep:
    if state.iterations >= iterations:
        return (yield from promote(ctx, state))
    yield from perform(SetRoutes(0, TOTAL_WEIGHT, False))
    state = replace(state.with_routes(0, TOTAL_WEIGHT, False), iterations=state.iterations + 1)
    yield from notify(messages.advance_iteration(ctx.spec, state.iterations, iterations))
    return ctx.wait_interval(state)


def advance_blue_green(ctx: TickContext, state: CanaryState, iterations: int) -> PhaseStep:
    spec = ctx.spec
    routable = spec.provider != KUBERNETES_PROVIDER
    if state.iterations < iterations:
        if routable and spec.mirror and not state.mirrored:
            yield from perform(SetRoutes(TOTAL_WEIGHT, 0, True))
            state = state.with_routes(TOTAL_WEIGHT, 0, True)
        state = replace(state, iterations=state.iterations + 1)
        yield from notify(messages.advance_iteration(spec, state.iterations, iterations))
        return ctx.wait_interval(state)
    if state.iterations > iterations:
        return (yield from promote(ctx, state))
    gated = yield from confirm_promotion(ctx, state)
    if not isinstance(gated, CanaryState):
        return gated
    state = gated
    if routable:
        if spec.mirror:
            yield from notify("Stop traffic mirroring and route all traffic to canary")
        else:
            yield from notify("Routing all traffic to canary")
        yield from perform(SetRoutes(0, TOTAL_WEIGHT, False))
        state = state.with_routes(0, TOTAL_WEIGHT, False)
    return ctx.wait_interval(replace(state, iterations=state.iterations + 1))


def confirm_promotion(ctx: TickContext, state: CanaryState) -> Step:
    """The confirm-promotion gate: the state when open, a WaitingPromotion decision when closed."""
    spec = ctx.spec
    if not spec.has_hook(HookType.CONFIRM_PROMOTION):
        return state
    gate = yield from ask_hooks(HookType.CONFIRM_PROMOTION, Phase.PROGRESSING)
    if gate.ok:
        yield from notify(f"Confirm-promotion check {gate.webhook} passed")
        return state
    if state.phase is not Phase.WAITING_PROMOTION:
        state = replace(state.with_phase(Phase.WAITING_PROMOTION, ctx.now), canary_weight=0)
        message = messages.halt_waiting_promotion_approval(spec, gate.webhook)
        yield from notify(message, "warn", alert=message)
    return ctx.wait_interval(state)


def promote(ctx: TickContext, state: CanaryState) -> PhaseStep:
    """Behind the confirm-promotion gate: copy the canary spec to the primary, enter Promoting."""
    gated = yield from confirm_promotion(ctx, state)
    if not isinstance(gated, CanaryState):
        return gated
    yield from notify(messages.copying_spec(ctx.spec))
    yield from perform(PromotePrimary())
    state = replace(gated.with_phase(Phase.PROMOTING, ctx.now), canary_weight=0, iterations=0)
    return ctx.poll_readiness(state)
