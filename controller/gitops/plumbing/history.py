"""Is every applied decision still in the branch? (issue 14: force-pushes that rewrite it)

A decision is in the branch when the commit recorded in ``status.gitops.applied`` is an
ancestor of the fetched tip (exact, any depth), or when one of the newest
:data:`HISTORY_DEPTH` commits carries its ``Gitcanary-Intent`` trailer (the decision was
rebased or cherry-picked onto the rewritten history). Otherwise it is *lost* when the recorded
commit is known to the cached clone, carries that trailer, and no other remote-tracking branch
holds it (a ``promoteTo`` commit on another branch is not this branch's business). A recorded
commit the clone never saw (the cache was emptied since) is *unknown*: the caller may know
more about it (``status.gitops.lastWriteBack``).

Invariants:
- Local commands only, on a clone the caller holds :meth:`WorkingClone.locked` on and fetched:
  one ``merge-base --is-ancestor`` per entry, one bounded ``git log`` when any entry is not an
  ancestor, and two commands per entry that is neither.
- Nothing here pushes, resets or commits: a lost decision is reported, never re-applied.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from controller.gitops.plumbing.clone import WorkingClone
from controller.gitops.workflow.trailers import intent_ids, parse_trailers

__all__ = [
    "HISTORY_DEPTH",
    "AppliedEntry",
    "HistoryCheck",
    "HistoryRequest",
    "LostDecision",
    "check_decisions",
    "run_request",
]

HISTORY_DEPTH = 500
"""How many of the newest commits are searched for a rewritten decision's trailer."""

_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")


@dataclass(frozen=True)
class AppliedEntry:
    """One entry of ``status.gitops.applied``: the intent id and the commit that holds it."""

    id: str
    commit: str


@dataclass(frozen=True)
class HistoryRequest:
    """Check ``entries`` after the next fetch, unless the tip is still ``checked_tip``."""

    entries: tuple[AppliedEntry, ...]
    checked_tip: str | None = None
    depth: int = HISTORY_DEPTH


@dataclass(frozen=True)
class LostDecision:
    """An applied decision whose commit the branch no longer holds."""

    id: str
    commit: str
    result: str
    """The ``Gitcanary-Result`` trailer (``rolled-back``, ``promoted``...)."""
    image: str
    """The ``Gitcanary-Image`` trailer (``<old> -> <new>``)."""


@dataclass(frozen=True)
class HistoryCheck:
    """The outcome of one check against the fetched tip, entries in status order."""

    tip: str
    present: tuple[str, ...] = ()
    lost: tuple[LostDecision, ...] = ()
    unknown: tuple[AppliedEntry, ...] = ()
    """Not in the branch, and the clone has no such commit: nothing more can be said here."""


def _is_ancestor(clone: WorkingClone, commit: str, tip: str) -> bool | None:
    """True/False, or None when the clone does not have ``commit``."""
    status, _ = clone.run_status("merge-base", "--is-ancestor", commit, tip)
    return True if status == 0 else False if status == 1 else None


def _recent_intents(clone: WorkingClone, tip: str, depth: int) -> set[str]:
    log = clone.run("log", f"--max-count={depth}", "--format=%x00%B%x1e", tip, "--")
    return {i for record in log.split("\x1e") for i in intent_ids(record.partition("\x00")[2])}


def _held_elsewhere(clone: WorkingClone, commit: str) -> bool:
    refs = clone.run("for-each-ref", f"--contains={commit}", "--format=%(refname)", "refs/remotes/")
    return any(ref and ref != clone.tracking for ref in refs.splitlines())


def _decision(clone: WorkingClone, entry: AppliedEntry) -> LostDecision | None:
    """The trailer block of ``entry.id`` in its recorded commit, or None when it has none."""
    message = clone.run("log", "--max-count=1", "--format=%B", entry.commit, "--")
    for block in parse_trailers(message):
        if block.intent == entry.id:
            return LostDecision(entry.id, entry.commit, block.result, block.image)
    return None


def check_decisions(
    clone: WorkingClone, tip: str, entries: Sequence[AppliedEntry], depth: int = HISTORY_DEPTH
) -> HistoryCheck:
    """Classify ``entries`` against ``tip`` (see the module docstring)."""
    if depth < 1:
        raise ValueError("depth must be at least 1")
    present: list[str] = []
    lost: list[LostDecision] = []
    unknown: list[AppliedEntry] = []
    recent: set[str] | None = None
    for entry in entries:
        if not _SHA.match(entry.commit):
            continue  # not a commit we recorded (a hand-edited status): nothing to check
        ancestor = _is_ancestor(clone, entry.commit, tip)
        if ancestor:
            present.append(entry.id)
            continue
        if recent is None:
            recent = _recent_intents(clone, tip, depth)
        if entry.id in recent:
            present.append(entry.id)
        elif ancestor is None:
            unknown.append(entry)
        elif not _held_elsewhere(clone, entry.commit) and (found := _decision(clone, entry)) is not None:
            lost.append(found)
    return HistoryCheck(tip, tuple(present), tuple(lost), tuple(unknown))


def run_request(clone: WorkingClone, tip: str, request: HistoryRequest) -> HistoryCheck | None:
    """:func:`check_decisions` for ``request``; None when the tip did not move since it was checked."""
    if tip == request.checked_tip:
        return None
    return check_decisions(clone, tip, request.entries, request.depth)
