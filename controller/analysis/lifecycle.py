"""Steps outside the analysis proper: initialisation, detecting a revision, approval, restart.

Invariants:
- Initialisation ends only when the primary is ready; until then the canary keeps serving (it is
  scaled to zero only after all traffic is routed to the primary). Unlike Flagger, a primary
  that misses its deadline during initialisation does not fail the Canary: there is nothing to
  roll back to, so the engine keeps waiting and keeps saying why.
- A revision equal to `last_applied_spec` never starts an analysis.
- A revision equal to `last_promoted_spec` (the target was reverted to what the primary runs,
  typically by our own rollback write-back) never starts an analysis either: the phase is kept,
  `last_applied_spec` follows the target, the canary is kept at zero and nothing is written back.
  Flagger would analyse and "promote" the primary's own spec; DESIGN.md section 4 requires that
  a reverted revision runs no analysis.
- The confirm-rollout gate is consulted before the canary is scaled up; while it is closed the
  phase is Waiting and the canary stays at zero.
"""

from __future__ import annotations

from dataclasses import replace

from controller.analysis import messages
from controller.analysis.checks import check_primary_ready
from controller.analysis.context import PhaseStep, TickContext, announce_halt, notify
from controller.analysis.model import TOTAL_WEIGHT, CanaryState, Decision, HookType, Phase
from controller.analysis.requests import (
    CheckReady,
    InitializePrimary,
    ScaleCanary,
    SetRoutes,
    ask_hooks,
    ask_readiness,
    ask_slot,
    perform,
)

SLOT_POLL_SECONDS = 5.0
"""How often a queued canary asks again for an analysis slot."""

__all__ = [
    "adopt_primary_revision",
    "await_rollout_approval",
    "detect_revision",
    "initialize",
    "restart_analysis",
    "start_analysis",
]


def initialize(ctx: TickContext, state: CanaryState) -> PhaseStep:
    """Create the primary, wait for it, route all traffic to it, then scale the canary down."""
    spec = ctx.spec
    yield from perform(InitializePrimary())
    if not spec.skip_analysis:
        readiness = yield from ask_readiness(CheckReady("primary"))
        if not readiness.ready:
            state = yield from announce_halt(
                ctx, state, messages.halt_not_ready(spec, "primary", readiness.message)
            )
            return ctx.poll_readiness(state)
    yield from perform(SetRoutes(TOTAL_WEIGHT, 0, False))
    yield from perform(ScaleCanary(to_zero=True))
    state = replace(
        state.with_phase(Phase.INITIALIZED, ctx.now).with_routes(TOTAL_WEIGHT, 0, False),
        canary_weight=0,
        failed_checks=0,
        iterations=0,
        last_applied_spec=ctx.revision,
        last_promoted_spec=ctx.revision,
        progress_started_at=None,
        last_failure="",
        halt_notified_at=None,
        inconclusive_checks=0,
        last_inconclusive="",
        hold_started_at=None,
    )
    yield from notify(messages.initialization_done(spec), alert=messages.initialization_done_alert(spec))
    return ctx.wait_interval(state)


def detect_revision(ctx: TickContext, state: CanaryState) -> PhaseStep:
    """In a resting phase (Initialized, Succeeded, Failed): start an analysis for a new revision.

    Failed on the failed revision keeps the canary scaled down (idempotent): the rollback tick
    leaves that to this one, so that it happens only once Failed is saved."""
    if ctx.revision == state.last_applied_spec:
        if state.phase is Phase.FAILED:
            yield from perform(ScaleCanary(to_zero=True))
        return ctx.wait_interval(state)
    if ctx.revision == state.last_promoted_spec:
        return (yield from adopt_primary_revision(ctx, state))
    return (yield from start_analysis(ctx, state))


def adopt_primary_revision(ctx: TickContext, state: CanaryState) -> PhaseStep:
    """The target runs what the primary runs: record it, keep the canary at zero, analyse nothing."""
    yield from perform(ScaleCanary(to_zero=True))
    yield from notify(messages.revision_matches_primary(ctx.spec))
    return ctx.wait_interval(replace(state, last_applied_spec=ctx.revision))


def await_rollout_approval(ctx: TickContext, state: CanaryState) -> PhaseStep:
    """Waiting: ask the confirm-rollout gate again; start the analysis once it opens."""
    return (yield from start_analysis(ctx, state))


def start_analysis(ctx: TickContext, state: CanaryState) -> PhaseStep:
    """Pass the confirm-rollout gate, scale the canary up and enter Progressing."""
    spec = ctx.spec
    result = yield from check_primary_ready(ctx, state)
    if isinstance(result, Decision):
        return result
    state = result
    if not (yield from ask_slot()):
        if state.phase is not Phase.WAITING:
            state = state.with_phase(Phase.WAITING, ctx.now)
            yield from notify(messages.halt_waiting_slot(spec), "warn")
        return Decision(state, min(spec.interval_seconds, SLOT_POLL_SECONDS))
    if spec.has_hook(HookType.CONFIRM_ROLLOUT):
        gate = yield from ask_hooks(HookType.CONFIRM_ROLLOUT, state.phase)
        if not gate.ok:
            if state.phase is not Phase.WAITING:
                state = state.with_phase(Phase.WAITING, ctx.now)
                message = messages.halt_waiting_approval(spec, gate.webhook)
                yield from notify(message, "warn", alert=message)
            return ctx.wait_interval(state)
        yield from notify(f"Confirm-rollout check {gate.webhook} passed")
    yield from notify(messages.new_revision(spec), alert=messages.new_revision_alert())
    yield from perform(ScaleCanary(to_zero=False))
    state = _fresh_analysis(ctx, state)
    return ctx.poll_readiness(state)


def restart_analysis(ctx: TickContext, state: CanaryState) -> PhaseStep:
    """A new revision arrived mid-analysis: all traffic back to the primary, counters reset."""
    yield from perform(SetRoutes(TOTAL_WEIGHT, 0, False))
    state = _fresh_analysis(ctx, state)
    yield from notify(messages.restarting_analysis(ctx.spec))
    return ctx.poll_readiness(state)


def _fresh_analysis(ctx: TickContext, state: CanaryState) -> CanaryState:
    return replace(
        state.with_phase(Phase.PROGRESSING, ctx.now).with_routes(TOTAL_WEIGHT, 0, False),
        canary_weight=0,
        failed_checks=0,
        iterations=0,
        last_applied_spec=ctx.revision,
        progress_started_at=ctx.now,
        last_failure="",
        halt_notified_at=None,
        inconclusive_checks=0,
        last_inconclusive="",
        hold_started_at=None,
    )
