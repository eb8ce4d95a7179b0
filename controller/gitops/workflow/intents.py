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
from typing import Any, Literal, cast, get_args

from controller.gitops.workflow.trailers import TrailerBlock, describe_image_change

__all__ = [
    "APPLIED_HISTORY",
    "Intent",
    "IntentKind",
    "intent_id",
    "make_intent",
    "mark_applied",
    "merge_pending",
    "rfc3339",
]

IntentKind = Literal["rollback", "promotion", "promoteTo"]
INTENT_KINDS: tuple[str, ...] = get_args(IntentKind)
APPLIED_HISTORY = 20
"""How many applied intents ``status.gitops.applied`` keeps (newest last)."""
ID_LENGTH = 16


def intent_id(canary: str, kind: str, revision: str, image: str, target_path: str) -> str:
    """Deterministic id: the first 16 hex digits of sha256 over canonical JSON of the inputs."""
    canonical = json.dumps(
        {"canary": canary, "image": image, "kind": kind, "path": target_path, "revision": revision},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:ID_LENGTH]


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


def rfc3339(timestamp: float) -> str:
    """Kubernetes-style UTC timestamp, ``2024-05-01T12:00:00Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


def mark_applied(
    status_gitops: Mapping[str, Any],
    ids: Iterable[str],
    commit: str | Mapping[str, str],
    now: float,
) -> dict[str, Any]:
    """Move ``ids`` from ``pending`` to ``applied`` and set ``lastWriteBack``.

    ``commit`` is the SHA that carries the intents, or a mapping id -> SHA when they landed
    in different commits (e.g. ``WriteBackResult.applied``). ``applied`` keeps the newest
    :data:`APPLIED_HISTORY` entries; an id applied again replaces its older entry. Returns a
    new mapping; ``status_gitops`` is not modified.
    """
    id_list = list(dict.fromkeys(ids))
    done = set(id_list)
    by_id: Mapping[str, str] = {i: commit for i in id_list} if isinstance(commit, str) else commit
    missing = [i for i in id_list if i not in by_id]
    if missing:
        raise ValueError(f"no commit given for intents {missing}")
    result = dict(status_gitops)
    pending = cast(Sequence[Mapping[str, Any]], status_gitops.get("pending") or [])
    result["pending"] = [dict(entry) for entry in pending if entry.get("id") not in done]
    if not id_list:
        return result
    previous = cast(Sequence[Mapping[str, Any]], status_gitops.get("applied") or [])
    history = [dict(entry) for entry in previous if entry.get("id") not in done]
    stamp = rfc3339(now)
    history.extend({"id": i, "commit": by_id[i], "appliedAt": stamp} for i in id_list)
    result["applied"] = history[-APPLIED_HISTORY:]
    last_commit = by_id[id_list[-1]] if isinstance(commit, Mapping) else commit
    result["lastWriteBack"] = {"commit": last_commit, "time": stamp, "intents": id_list}
    return result
