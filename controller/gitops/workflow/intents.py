"""Write-back intents: decisions that need a Git commit, recorded before any Git I/O.

A decision that needs Git is first stored in the Canary's ``status.gitops.pending`` as an
:class:`Intent`; a per-repository worker (:mod:`controller.gitops.plumbing.repo`) applies it and the
controller then calls :func:`mark_applied`. The status shape this module reads and writes::

    status:
      gitops:
        pending:   [<Intent.to_dict()>, ...]
        applied:   [{id, commit, appliedAt}, ...]     # the last APPLIED_HISTORY entries
        lastWriteBack: {commit, time, intents: [id, ...]}

Invariants:
- An intent id is a pure function of (canary, kind, revision, image, target path): the same
  decision taken twice, by two controller instances or after a crash, has the same id, and
  the ``Gitcanary-Intent`` trailer with that id is what makes write-back exactly-once.
- Everything here is pure: no clock (``now`` is passed in), no I/O, inputs never mutated.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

from controller.gitops.workflow.trailers import TrailerBlock, describe_image_change

__all__ = [
    "APPLIED_HISTORY",
    "Intent",
    "IntentKind",
    "intent_id",
    "make_intent",
    "merge_pending",
]

IntentKind = Literal["rollback", "promotion", "promoteTo"]
INTENT_KINDS: tuple[str, ...] = get_args(IntentKind)
APPLIED_HISTORY = 20
"""How many applied intents ``status.gitops.applied`` keeps (newest last)."""
ID_LENGTH = 16


def intent_id(canary: str, kind: str, revision: str, image: str, path: str = "") -> str:
    """The deterministic id of a write-back decision: 16 hex digits of sha256 over the JSON list
    ``[canary, kind, revision, image, path]`` (compact separators).

    This is the key of the exactly-once guarantee: ids are persisted in ``status.gitops`` and in
    the ``Gitcanary-Intent`` trailers of commits, so the encoding must never change without a
    migration (tests/unit/gitops/test_intents.py pins it with fixed values).
    """
    payload = json.dumps([canary, kind, revision, image, path], separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()[:ID_LENGTH]


_CAMEL = {
    "id": "id",
    "kind": "kind",
    "canary": "canary",
    "repository": "repository",
    "branch": "branch",
    "path": "path",
    "image": "image",
    "previous_image": "previousImage",
    "result": "result",
    "analysis": "analysis",
    "source_revision": "sourceRevision",
    "created_at": "createdAt",
}


@dataclass(frozen=True)
class Intent:
    """One decision to write back to Git."""

    id: str
    """Deterministic id, see :func:`intent_id`."""
    kind: IntentKind
    """``rollback`` reverts image automation; ``promotion`` pins; ``promoteTo`` proposes elsewhere."""
    canary: str
    """``namespace/name`` of the Canary that decided."""
    repository: str
    """The Git URL (from the Flux GitRepository)."""
    branch: str
    path: str
    """Directory (or file) in the repository where markers are edited."""
    image: str
    """The image the commit writes: the primary's image on rollback, the canary's on promotion."""
    previous_image: str
    """The image Git held before: the failed image on rollback."""
    result: str
    """``rolled-back``, ``promoted``, ``proposed``: the ``Gitcanary-Result`` trailer."""
    analysis: str
    """One-line analysis summary for the ``Gitcanary-Analysis`` trailer."""
    source_revision: str
    """Flux revision that introduced the change, e.g. ``main@sha1:<sha>``."""
    created_at: float
    """Unix time of the decision."""

    def __post_init__(self) -> None:
        if self.kind not in INTENT_KINDS:
            raise ValueError(f"unknown intent kind {self.kind!r}; expected one of {INTENT_KINDS}")
        if not self.id:
            raise ValueError("intent id must not be empty")

    def to_dict(self) -> dict[str, Any]:
        """The camelCase form stored in ``status.gitops.pending``."""
        return {camel: getattr(self, name) for name, camel in _CAMEL.items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Intent:
        """Inverse of :meth:`to_dict`; raises ``ValueError`` on a missing or mistyped field."""
        values: dict[str, Any] = {}
        for name, camel in _CAMEL.items():
            if camel not in data:
                if name in ("analysis", "source_revision", "previous_image"):
                    values[name] = ""
                    continue
                raise ValueError(f"intent is missing {camel!r}")
            values[name] = data[camel]
        try:
            values["created_at"] = float(values["created_at"])
        except (TypeError, ValueError) as exc:
            raise ValueError(f"intent createdAt is not a number: {values['created_at']!r}") from exc
        for name, value in values.items():
            if name != "created_at" and not isinstance(value, str):
                raise ValueError(f"intent {_CAMEL[name]!r} must be a string, got {type(value).__name__}")
        return cls(**values)

    def trailer_block(self) -> TrailerBlock:
        """The audit record this intent leaves in its write-back commit."""
        return TrailerBlock(
            canary=self.canary,
            result=self.result,
            image=describe_image_change(self.previous_image, self.image),
            source=self.source_revision,
            analysis=self.analysis,
            intent=self.id,
        )


def make_intent(
    *,
    kind: IntentKind,
    canary: str,
    revision: str,
    repository: str,
    branch: str,
    path: str,
    image: str,
    previous_image: str,
    result: str,
    analysis: str = "",
    source_revision: str = "",
    now: float | None = None,
) -> Intent:
    """Build an intent whose id is derived from (canary, kind, revision, image, path).

    ``revision`` is the canary revision (pod-template hash) the decision is about.
    """
    return Intent(
        id=intent_id(canary, kind, revision, image, path),
        kind=kind,
        canary=canary,
        repository=repository,
        branch=branch,
        path=path,
        image=image,
        previous_image=previous_image,
        result=result,
        analysis=analysis,
        source_revision=source_revision,
        created_at=time.time() if now is None else now,
    )


def _as_dict(item: Intent | Mapping[str, Any]) -> dict[str, Any]:
    return item.to_dict() if isinstance(item, Intent) else dict(item)


def merge_pending(
    pending: Sequence[Mapping[str, Any]],
    new: Iterable[Intent | Mapping[str, Any]],
    *,
    applied: Sequence[Mapping[str, Any]] = (),
) -> list[dict[str, Any]]:
    """``pending`` plus the ``new`` intents, without duplicate ids, oldest first.

    An intent whose id is already pending keeps its original entry (and ``createdAt``); one
    listed in ``applied`` is not queued again.
    """
    done = {str(entry.get("id")) for entry in applied}
    merged: list[dict[str, Any]] = []
    seen: set[str] = set()
    for item in [*pending, *new]:
        entry = _as_dict(item)
        key = str(entry.get("id", ""))
        if not key or key in seen or key in done:
            continue
        seen.add(key)
        merged.append(entry)
    return merged
