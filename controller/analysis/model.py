"""Plain data of the analysis engine: the spec it reads, the state it evolves, the decision it returns.

Invariants:
- Everything here is immutable (frozen dataclasses) and free of I/O and clocks; times are epoch
  seconds supplied by the caller.
- `CanaryState` is the engine's only memory. It mirrors Flagger's Canary status, plus the few
  fields Flagger keeps elsewhere (the routes it reads back from the mesh, the start of a
  readiness wait), and round-trips through JSON via `to_dict` / `from_dict`.
- A check has three outcomes: passed, failed, inconclusive (the check could not measure). What an
  inconclusive result does is `AnalysisSpec.on_inconclusive` (`InconclusivePolicy`); whatever the
  policy, only failed checks make a rollback a verdict on the release (see `analysis.checks`).
- `canary_weight` and `iterations` follow Flagger's status semantics (a phase change to anything
  but Progressing or Waiting shows weight 0). The traffic actually routed is tracked separately in
  `primary_route_weight`, `canary_route_weight` and `mirrored`, which play the role of Flagger's
  `meshRouter.GetRoutes`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from typing import Any

from controller.api.status import CanaryPhase

__all__ = [
    "TOTAL_WEIGHT",
    "AnalysisSpec",
    "CanaryState",
    "Decision",
    "HookType",
    "InconclusivePolicy",
    "Phase",
    "Strategy",
]

TOTAL_WEIGHT = 100
"""Flagger's total weight: primary and canary weights always add up to this."""


Phase = CanaryPhase
"""The analysis phase, with Flagger's values (the API's ``status.phase`` enum itself)."""


class Strategy(StrEnum):
    """How traffic reaches the canary: shifted weights, header/cookie match, or all at once."""

    CANARY = "canary"
    AB_TESTING = "ab-testing"
    BLUE_GREEN = "blue-green"


class InconclusivePolicy(StrEnum):
    """What an inconclusive check does to the analysis (`analysis.onInconclusive`).

    - `count` (the default, Flagger's behaviour): it counts as a failed check toward `threshold`
      (`failedChecks`, as in Flagger); the canary does not advance in that interval.
    - `hold`: it is counted apart (`inconclusiveChecks`, consecutive: a conclusive interval resets
      it); the canary keeps its weight until the checks answer again, and the analysis gives up
      after `inconclusiveThreshold` inconclusive intervals in a row, or once the hold lasted
      `progressDeadlineSeconds`.

    Either way a rollback whose failed checks alone did not reach `threshold` is written back as
    `inconclusive`, which never quarantines the tag.
    """

    COUNT = "count"
    HOLD = "hold"


class HookType(StrEnum):
    """Flagger's webhook types."""

    CONFIRM_ROLLOUT = "confirm-rollout"
    PRE_ROLLOUT = "pre-rollout"
    ROLLOUT = "rollout"
    CONFIRM_TRAFFIC_INCREASE = "confirm-traffic-increase"
    CONFIRM_PROMOTION = "confirm-promotion"
    POST_ROLLOUT = "post-rollout"
    ROLLBACK = "rollback"
    EVENT = "event"


@dataclass(frozen=True, slots=True)
class AnalysisSpec:
    """The parts of a Canary spec the engine decides on, mapped by the caller.

    `name` is the Canary's name and `target_name` the target workload's (Flagger uses one or the
    other depending on the message); an empty `target_name` means "same as `name`".
    Zero means "unset" for `max_weight`, `step_weight`, `step_weight_promotion`, `iterations`,
    `progress_deadline_seconds` and `inconclusive_threshold` (which then equals `threshold`). Readiness thresholds are applied by the caller.
    """

    name: str
    namespace: str
    strategy: Strategy = Strategy.CANARY
    interval_seconds: float = 60.0
    threshold: int = 1
    max_weight: int = 0
    step_weight: int = 0
    step_weights: tuple[int, ...] = ()
    step_weight_promotion: int = 0
    iterations: int = 0
    mirror: bool = False
    mirror_weight: int = 0
    progress_deadline_seconds: float = 600.0
    skip_analysis: bool = False
    suspend: bool = False
    provider: str = ""
    has_webhooks_of: frozenset[HookType] = frozenset()
    target_name: str = ""
    target_kind: str = "Deployment"
    on_inconclusive: InconclusivePolicy = InconclusivePolicy.COUNT
    inconclusive_threshold: int = 0

    @property
    def target(self) -> str:
        """The target workload's name."""
        return self.target_name or self.name

    @property
    def effective_threshold(self) -> int:
        """Flagger treats a threshold below 1 as 1."""
        return max(self.threshold, 1)

    @property
    def effective_inconclusive_threshold(self) -> int:
        """Inconclusive intervals in a row that end a hold: `threshold` when unset."""
        return self.inconclusive_threshold if self.inconclusive_threshold > 0 else self.effective_threshold

    @property
    def holds(self) -> bool:
        return self.on_inconclusive is InconclusivePolicy.HOLD

    def has_hook(self, hook_type: HookType) -> bool:
        return hook_type in self.has_webhooks_of


@dataclass(frozen=True, slots=True)
class CanaryState:
    """Flagger's Canary status, plus what the engine must remember between ticks.

    - `last_applied_spec`: the revision under analysis (or last analysed).
    - `last_promoted_spec`: the revision the primary runs.
    - `progress_started_at`: start of the current wait for the canary to become ready
      (None when not waiting); the engine's own progress deadline is measured from it.
    - `last_failure`: the latest failed check or rollback cause, used for write-back summaries.
    - `halt_notified_at`: when a readiness halt was last announced, so that fast polling does
      not flood events (at most one per analysis interval).
    - `inconclusive_checks`: intervals whose checks were inconclusive (none failed). With the
      `count` policy they are also in `failed_checks`, as in Flagger, and this counts how many of
      those were inconclusive; with `hold` it counts the current run of them.
    - `last_inconclusive`: the latest inconclusive check and its cause, e.g.
      "request-success-rate inconclusive (timeout): ...".
    - `hold_started_at`: when the current run of inconclusive intervals began (`hold` only).
    - `last_analysis_at`: when the checks and the strategy step last ran. Ticks may come more
      often than the interval (watch events wake the loop); the analysis step runs at most once
      per interval.
    """

    phase: Phase = Phase.INITIALIZING
    canary_weight: int = 0
    failed_checks: int = 0
    iterations: int = 0
    last_applied_spec: str = ""
    last_promoted_spec: str = ""
    last_transition_time: float = 0.0
    progress_started_at: float | None = None
    primary_route_weight: int = TOTAL_WEIGHT
    canary_route_weight: int = 0
    mirrored: bool = False
    last_failure: str = ""
    halt_notified_at: float | None = None
    last_analysis_at: float | None = None
    inconclusive_checks: int = 0
    last_inconclusive: str = ""
    hold_started_at: float | None = None

    def with_phase(self, phase: Phase, now: float) -> CanaryState:
        """A copy in `phase`; `last_transition_time` moves only when the phase changes."""
        if phase is self.phase:
            return self
        return replace(self, phase=phase, last_transition_time=now)

    def with_routes(self, primary: int, canary: int, mirrored: bool) -> CanaryState:
        return replace(self, primary_route_weight=primary, canary_route_weight=canary, mirrored=mirrored)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (phase as its string value)."""
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        out["phase"] = self.phase.value
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> CanaryState:
        """Inverse of `to_dict`; missing keys take defaults, unknown keys are ignored,
        and an empty phase (Flagger's unset status) reads as Initializing."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in raw.items() if k in known}
        phase = values.pop("phase", "") or Phase.INITIALIZING.value
        return cls(phase=Phase(phase), **values)


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one tick: the next state to persist and when to tick again."""

    state: CanaryState
    requeue_after: float = field(default=60.0)
