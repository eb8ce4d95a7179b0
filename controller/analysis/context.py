"""What every decision step shares: the tick's inputs, the step types, and requeue timing.

Invariants:
- A step is a generator that yields `Request`s and returns either a `Decision` (the tick ends
  here) or a `CanaryState` (the tick goes on to the next step with this state).
- Waiting on readiness polls fast (`READINESS_POLL_SECONDS`, never slower than the interval);
  everything else waits one analysis interval, like Flagger's ticker.
- Readiness halts are announced at most once per interval, however fast the polling.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, replace
from typing import TypeAlias

from controller.analysis.model import AnalysisSpec, CanaryState, Decision
from controller.analysis.requests import Notify, Request, Severity

__all__ = [
    "FINALISE_DELAY_SECONDS",
    "READINESS_POLL_SECONDS",
    "Outcome",
    "PhaseStep",
    "Step",
    "TickContext",
    "announce_halt",
    "notify",
]

READINESS_POLL_SECONDS = 1.0
"""Requeue delay while waiting for a workload to become ready."""

FINALISE_DELAY_SECONDS = 2.0
"""Requeue delay between routing all traffic to the primary and scaling the canary down,
leaving the routing change a moment to propagate."""

Outcome: TypeAlias = Decision | CanaryState
Step: TypeAlias = Generator[Request, object, Outcome]
"""A step that may let the tick go on (returns a state) or end it (returns a Decision)."""
PhaseStep: TypeAlias = Generator[Request, object, Decision]
"""A step that always ends the tick."""


@dataclass(frozen=True, slots=True)
class TickContext:
    """The inputs of one tick that do not change during it."""

    spec: AnalysisSpec
    now: float
    revision: str

    def wait_interval(self, state: CanaryState) -> Decision:
        """End the tick; tick again after one analysis interval."""
        return Decision(state, self.spec.interval_seconds)

    def poll_readiness(self, state: CanaryState) -> Decision:
        """End the tick; tick again soon to see whether a workload became ready."""
        return Decision(state, min(self.spec.interval_seconds, READINESS_POLL_SECONDS))

    def poll_finalising(self, state: CanaryState) -> Decision:
        return Decision(state, min(self.spec.interval_seconds, FINALISE_DELAY_SECONDS))


def notify(message: str, severity: Severity = "info", alert: str = "") -> Generator[Request, object, None]:
    yield Notify(message, severity, "Synced", alert)


def announce_halt(
    ctx: TickContext, state: CanaryState, message: str
) -> Generator[Request, object, CanaryState]:
    """Notify a readiness halt unless one was announced less than an interval ago."""
    last = state.halt_notified_at
    if last is not None and ctx.now - last < ctx.spec.interval_seconds:
        return state
    yield from notify(message, "warn")
    return replace(state, halt_notified_at=ctx.now)
