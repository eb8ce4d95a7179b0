"""`status` of a Canary: Flagger's fields and `Promoted` condition, plus `status.gitops`.

Invariants:
- The Canary status is the controller's only state; everything the engine needs to resume
  after a restart is here.
- Timestamps are RFC 3339 strings supplied by the caller: nothing in this module reads a clock.
- A condition's `lastTransitionTime` changes only when its `status` changes (as Flagger does);
  `lastUpdateTime` changes on every update.
- `to_patch` produces a merge patch for the status subresource; lists are replaced whole.
"""

import functools
import json
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, get_args

from pydantic import Field, TypeAdapter, ValidationError, field_validator

from controller.api.gitops import GitOpsStatus
from controller.api.model import ApiModel
from controller.errors import PermanentError

__all__ = [
    "PROMOTED_CONDITION",
    "CanaryCondition",
    "CanaryPhase",
    "CanaryStatus",
    "StatusShapeError",
    "checked_status",
    "status_patch_problems",
]

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


def status_patch_problems(patch: Mapping[str, Any]) -> list[str]:
    """Why ``patch`` is not a merge patch of this model's status: every property must be a field
    of :class:`CanaryStatus` (by its CRD name) and every value must have the field's type. A
    ``None`` deletes, as in any merge patch (also inside a map, e.g. a container's stable image)."""
    return _patch_problems(patch, CanaryStatus, "status")


def _patch_problems(patch: Mapping[str, Any], model: type[ApiModel], path: str) -> list[str]:
    fields = {info.alias or name: info for name, info in model.model_fields.items()}
    problems: list[str] = []
    for key, value in patch.items():
        info = fields.get(key)
        where = f"{path}.{key}"
        if info is None:
            problems.append(f"{where}: not a field of {model.__name__}")
            continue
        if value is None or info.annotation is None:
            continue
        nested = _model_in(info.annotation)
        if nested is not None and isinstance(value, Mapping):
            problems += _patch_problems(value, nested, where)
            continue
        if isinstance(value, Mapping):  # a map field: a None entry deletes that key
            value = {k: v for k, v in value.items() if v is not None}
        try:  # as JSON, the way the API server receives it (an enum is its value)
            _adapter(model, key).validate_json(json.dumps(value), strict=True)
        except ValidationError as exc:
            problems.append(f"{where}: {exc.errors()[0]['msg']}")
    return problems


def _model_in(annotation: Any) -> type[ApiModel] | None:
    """The model in ``Model | None`` (or ``Model``), else None."""
    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, ApiModel):
            return candidate
    return None


@functools.cache
def _adapter(model: type[ApiModel], alias: str) -> TypeAdapter[Any]:
    """The validator of one field of ``model``, named by its CRD property name."""
    info = next(i for name, i in model.model_fields.items() if (i.alias or name) == alias)
    return TypeAdapter(Any if info.annotation is None else info.annotation)


class StatusShapeError(PermanentError):
    """A status patch that the typed status model (this module) does not describe:
    a property it lacks or a value of the wrong type. A defect of gitcanary, refused before it
    reaches the API server (which would prune the property or reject the patch)."""


def checked_status(patch: dict[str, Any]) -> dict[str, Any]:
    """``patch`` (a Canary merge patch) unchanged, once its ``status`` fits the typed model."""
    problems = status_patch_problems(patch.get("status") or {})
    if problems:
        raise StatusShapeError("status patch refused: " + "; ".join(problems))
    return patch
