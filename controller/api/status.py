"""`status` of a Canary: Flagger's fields and `Promoted` condition, plus `status.gitops`.

Invariants:
- The Canary status is the controller's only state; everything the engine needs to resume
  after a restart is here.
- Timestamps are RFC 3339 strings supplied by the caller: nothing in this module reads a clock.
- A condition's `lastTransitionTime` changes only when its `status` changes (as Flagger does);
  `lastUpdateTime` changes on every update.
- `to_patch` produces a merge patch for the status subresource; lists are replaced whole.
"""

from enum import StrEnum
from typing import Any

from pydantic import Field, field_validator

from controller.api.gitops import GitOpsStatus
from controller.api.model import ApiModel

__all__ = ["PROMOTED_CONDITION", "CanaryCondition", "CanaryPhase", "CanaryStatus"]

PROMOTED_CONDITION = "Promoted"


class CanaryPhase(StrEnum):
    """The analysis phase, with Flagger's values."""

    INITIALIZING = "Initializing"
    INITIALIZED = "Initialized"
    WAITING = "Waiting"
    PROGRESSING = "Progressing"
    WAITING_PROMOTION = "WaitingPromotion"
    PROMOTING = "Promoting"
    FINALISING = "Finalising"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    TERMINATING = "Terminating"
    TERMINATED = "Terminated"


class CanaryCondition(ApiModel):
    type: str
    status: str
    reason: str
    message: str | None = None
    last_transition_time: str | None = None
    last_update_time: str | None = None


class EngineStatus(ApiModel):
    """The analysis engine's memory beyond Flagger's status fields (see controller.analysis.model)."""

    progress_started_at: float | None = None
    primary_route_weight: int | None = None
    canary_route_weight: int | None = None
    mirrored: bool | None = None
    last_failure: str | None = None
    halt_notified_at: float | None = None
    last_analysis_at: float | None = None
    stable_image: str | None = None
    stable_images: dict[str, str] | None = None
    revision: str | None = None
    rollback_request: str | None = None
    last_inconclusive: str | None = None
    hold_started_at: float | None = None


class CanaryStatus(ApiModel):
    # The CRD also allows "" for phase; it reads as unset (None).
    phase: CanaryPhase | None = Field(default=None, strict=False)
    failed_checks: int = 0
    inconclusive_checks: int = 0
    canary_weight: int = 0
    iterations: int = 0
    tracked_configs: dict[str, str] = {}
    last_applied_spec: str | None = None
    last_promoted_spec: str | None = None
    last_transition_time: str | None = None
    session_affinity_cookie: str | None = None
    primary_session_affinity_cookie: str | None = None
    previous_session_affinity_cookie: str | None = None
    conditions: list[CanaryCondition] = []
    gitops: GitOpsStatus | None = None
    engine: EngineStatus | None = None

    @field_validator("phase", mode="before")
    @classmethod
    def _empty_phase_is_unset(cls, value: Any) -> Any:
        return None if value == "" else value

    def to_patch(self) -> dict[str, Any]:
        """A merge patch body for the `status` subresource."""
        return {"status": self.to_k8s()}
