"""Report applied decisions that a rewritten branch no longer holds (issue 14).

Someone force-pushed the branch and the commit of a decision recorded in
``status.gitops.applied`` is gone from it. The Canary gets the condition ``WriteBackLost=True``
(reason ``DecisionCommitMissing``) naming the intent, its result, its image and the branch,
and one Warning Event with the same reason and message. The decision is **not** pushed again:
a person rewrote the history on purpose, and re-applying it could undo what they meant.

Which decisions count: those of ``status.gitops.applied`` newer than the newest one the branch
still holds; a decision applied after the rewrite supersedes the lost ones. The condition goes
back to False when a later check finds the commits again (``DecisionCommitFound``) or a new
decision is committed to the branch (``DecisionApplied``).

Invariants:
- One Event per distinct message: none when the condition already says the same thing.
- A check runs only when the branch tip or the applied list changed since the last check of
  the same Canary on the same branch (in memory; a restart checks once more).
- The condition is written only when it changes, and a Canary that never lost a decision
  never gets one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from controller.api.conditions import find_condition, set_condition
from controller.events import record_event
from controller.gitops.plumbing.history import AppliedEntry, HistoryCheck, HistoryRequest, LostDecision
from controller.gitops.workflow.canary_status import CANARY_API, patch_status
from controller.kube import Kube, KubeError

__all__ = [
    "CONDITION",
    "MISSING",
    "applied_entries",
    "lost_decisions",
    "remember",
    "report",
    "request_for",
]

Obj = dict[str, Any]
CONDITION = "WriteBackLost"
MISSING = "DecisionCommitMissing"

_VERDICTS = ("rolled-back", "promoted", "inconclusive")

_CHECKED: dict[tuple[str, str, str], tuple[str, tuple[AppliedEntry, ...]]] = {}
"""(URL, branch, Canary) -> (tip, applied entries) of the last check."""


def applied_entries(gitops_status: Mapping[str, Any]) -> tuple[AppliedEntry, ...]:
    return tuple(
        AppliedEntry(str(a["id"]), str(a["commit"]))
        for a in gitops_status.get("applied") or []
        if isinstance(a, Mapping) and a.get("id") and a.get("commit")
    )


def request_for(
    url: str, branch: str, canary: str, gitops_status: Mapping[str, Any]
) -> HistoryRequest | None:
    """What to check for this Canary, or None when it has no applied decision."""
    entries = applied_entries(gitops_status)
    if not entries:
        return None
    tip, checked = _CHECKED.get((url, branch, canary), ("", ()))
    return HistoryRequest(entries, tip if checked == entries else None)


def remember(url: str, branch: str, canary: str, request: HistoryRequest, check: HistoryCheck) -> None:
    _CHECKED[(url, branch, canary)] = (check.tip, request.entries)


def _from_last_write_back(entry: AppliedEntry, last: Mapping[str, Any]) -> LostDecision | None:
    """A lost commit the clone never saw: ``lastWriteBack`` still names it when it was the latest."""
    if (
        last.get("id") != entry.id
        or last.get("commit") != entry.commit
        or last.get("result") not in _VERDICTS
    ):
        return None
    image = str(last.get("message") or "").partition(": ")[2]
    return LostDecision(entry.id, entry.commit, str(last["result"]), image)


def lost_decisions(check: HistoryCheck, gitops_status: Mapping[str, Any]) -> list[LostDecision]:
    """The lost decisions newer than the newest one the branch holds, oldest first."""
    entries = applied_entries(gitops_status)
    lost = {d.id: d for d in check.lost}
    last = gitops_status.get("lastWriteBack") or {}
    for entry in check.unknown:
        if (found := _from_last_write_back(entry, last)) is not None:
            lost[entry.id] = found
    present = set(check.present)
    newest = max((n for n, e in enumerate(entries) if e.id in present), default=-1)
    return [lost[e.id] for e in entries[newest + 1 :] if e.id in lost]


def describe(lost: Sequence[LostDecision], branch: str) -> str:
    parts = [
        f"intent {d.id} ({d.result or 'result unknown'} {d.image or 'image unknown'}, commit {d.commit[:12]})"
        for d in lost
    ]
    text = (
        f"branch {branch} no longer holds the decision commit of {'; '.join(parts)}: the branch was "
        "rewritten; gitcanary does not push a lost decision again"
    )
    return text if len(text) <= 1000 else text[:997] + "..."


def _conditions_for(
    canary: Obj, check: HistoryCheck, branch: str, now: float, applied_now: bool
) -> tuple[list[Obj] | None, str | None]:
    """(the new conditions or None when unchanged, the Event message or None)."""
    status = canary.get("status") or {}
    conditions: list[Obj] = list(status.get("conditions") or [])
    old = find_condition(conditions, CONDITION)
    was_true = old is not None and old.get("status") == "True"
    lost = lost_decisions(check, status.get("gitops") or {})
    event = None
    if lost:
        message = describe(lost, branch)
        if not (was_true and old is not None and old.get("message") == message):
            event = message
        if applied_now:
            followed = f"a new decision followed; before it, {message}"
            new = set_condition(conditions, CONDITION, "False", "DecisionApplied", followed[:1000], now)
        else:
            new = set_condition(conditions, CONDITION, "True", MISSING, message, now)
    elif was_true:
        reason, message = (
            ("DecisionApplied", f"a new decision was committed to branch {branch}")
            if applied_now
            else ("DecisionCommitFound", f"branch {branch} holds every applied decision")
        )
        new = set_condition(conditions, CONDITION, "False", reason, message, now)
    else:
        return None, None
    return (None if new == conditions else new), event


async def report(
    kube: Kube,
    canary: Obj,
    check: HistoryCheck,
    branch: str,
    now: float,
    *,
    applied_now: bool = False,
    attempts: int = 3,
) -> bool:
    """Write the condition and the Event for ``check``; False when the status could not be written.

    The patch is conditional on the Canary's ``resourceVersion`` (the conditions list is written
    whole: a tick's change meanwhile must not be undone); on a conflict the Canary is read again,
    up to ``attempts`` times. The Event follows the successful patch. ``applied_now``: this
    write-back committed (or found) a new decision on the branch."""
    meta = canary["metadata"]
    for attempt in range(attempts):
        if attempt:
            fresh = await kube.get(CANARY_API, "Canary", meta["namespace"], meta["name"])
            if fresh is None:
                return False
            canary = fresh
        new, event = _conditions_for(canary, check, branch, now, applied_now)
        if new is not None:
            try:
                await patch_status(
                    kube,
                    canary,
                    {"conditions": new},
                    resource_version=canary["metadata"].get("resourceVersion"),
                )
            except KubeError as exc:
                if exc.status != 409:
                    raise
                continue
        if event is not None:
            await record_event(kube, canary, "Warning", MISSING, event)
        return True
    return False
