"""``spec.gitops.promoteTo``: after a promotion reaches Git, propose the image to other environments.

Flow, driven by :func:`controller.gitops.workflow.worker.write_back`:
1. once the ``promotion`` intent of a revision is done (committed, or found already in Git),
   :func:`queue_promote_to` adds one ``promoteTo`` intent per entry to ``status.gitops.pending``;
2. the next write-back splits them (:func:`split_intents`): entries with ``approval: none`` on
   the Canary's own branch go into the normal batch (``apply_intent`` pins the ``$gitcanary``
   markers under the entry's ``path``); the others are delivered here (:func:`deliver`):
   ``approval: none`` on another ``branch`` is a direct commit to that branch, and
   ``approval: pullRequest`` pushes a branch and opens (or adopts) a PR into ``branch``
   (default: the Canary's branch), with the forge settings of ``spec.gitops.approval``.

Invariants:
- A ``promoteTo`` intent id is a pure function of (canary, the promotion intent's id, image,
  path, branch): replays and restarts queue nothing twice, and ``merge`` with ``applied`` keeps
  a delivered entry from coming back.
- Its settings (approval, branch) are looked up in the current spec by ``path``; an entry
  removed from the spec is dropped (reported as failed, never applied blindly).
- A PR proposal is "done" once its branch exists and the PR is open: the status records the
  branch tip as the intent's commit and the PR URL in ``lastWriteBack.message``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from controller.api.timestamps import rfc3339
from controller.errors import FAILURES
from controller.gitops.edits.apply import EditPolicy, apply_intent
from controller.gitops.plumbing.credentials import GitAuth, SigningKey
from controller.gitops.plumbing.repo import WriteBackError, WriteBackRepo, default_subject
from controller.gitops.workflow.approval import branch_name, pr_body, pr_title
from controller.gitops.workflow.commit_message import CommitMessage
from controller.gitops.workflow.intents import Intent, intent_id
from controller.gitops.workflow.proposals import (
    ProposalEdits,
    forge_target,
    open_proposal,
)
from controller.kube import Kube

__all__ = ["PromoteToOutcome", "deliver", "promote_to_id", "queue_promote_to", "split_intents"]

Obj = dict[str, Any]
PROPOSED = "proposed"


def promote_to_id(canary: str, promotion_id: str, image: str, path: str, branch: str | None) -> str:
    """The deterministic id of the ``promoteTo`` intent for one entry."""
    return intent_id(canary, "promoteTo", promotion_id, image, f"{path}@{branch or ''}")


def _entries(gitops: Mapping[str, Any]) -> list[Obj]:
    return [dict(e) for e in gitops.get("promoteTo") or [] if isinstance(e, Mapping) and e.get("path")]


def queue_promote_to(
    gitops: Mapping[str, Any],
    canary: str,
    promotion: Mapping[str, Any],
    known: Sequence[Mapping[str, Any]],
    now: float,
) -> list[Obj]:
    """The ``promoteTo`` raw intents for one done ``promotion`` raw intent, minus ``known`` ids."""
    seen = {str(k.get("id")) for k in known}
    out: list[Obj] = []
    image = str(promotion.get("image") or "")
    for entry in _entries(gitops):
        new_id = promote_to_id(canary, str(promotion["id"]), image, entry["path"], entry.get("branch"))
        if new_id in seen:
            continue
        seen.add(new_id)
        out.append(
            {
                "id": new_id,
                "kind": "promoteTo",
                "canaryRevision": promotion.get("canaryRevision") or "",
                "image": image,
                "previousImage": promotion.get("previousImage") or "",
                "result": PROPOSED,
                "analysis": promotion.get("analysis") or "",
                "createdAt": rfc3339(now),
                "path": entry["path"],
            }
        )
    return out


def _entry_for(gitops: Mapping[str, Any], path: str) -> Obj | None:
    return next((e for e in _entries(gitops) if e["path"] == path), None)


def split_intents(
    intents: Sequence[Intent], gitops: Mapping[str, Any], branch: str
) -> tuple[list[Intent], list[Intent]]:
    """(intents for the normal batch on ``branch``, ``promoteTo`` intents for :func:`deliver`)."""
    local: list[Intent] = []
    elsewhere: list[Intent] = []
    for intent in intents:
        entry = _entry_for(gitops, intent.path) if intent.kind == "promoteTo" else None
        direct = entry is not None and entry.get("approval", "none") == "none"
        if intent.kind != "promoteTo" or (direct and (entry or {}).get("branch") in (None, "", branch)):
            local.append(intent)
        else:
            elsewhere.append(intent)
    return local, elsewhere


@dataclass
class PromoteToOutcome:
    """What :func:`deliver` achieved: ids done -> commit, notes for the record, failures."""

    applied: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


def _body(intent: Intent, path: str) -> str:
    return pr_body(
        intent.canary,
        intent.id,
        intent.image,
        f"promoted in {intent.branch}; proposed for {path}. {intent.analysis}",
        (),
    )


@dataclass(frozen=True)
class DeliveryContext:
    """Where and as whom to write: resolved once per write-back by the worker."""

    kube: Kube
    namespace: str
    gitops: Mapping[str, Any]
    url: str
    branch: str
    cache_dir: Path
    auth: GitAuth | None
    author: tuple[str, str]
    signing: SigningKey | None
    policy: EditPolicy
    message: CommitMessage = field(default_factory=lambda: CommitMessage(None, default_subject))
    """The commit text (``spec.gitops.commit.messageTemplate``) for the commits made here."""


async def _deliver_one(ctx: DeliveryContext, intent: Intent, entry: Obj) -> tuple[str, str]:
    target_branch = entry.get("branch") or ctx.branch
    repo = WriteBackRepo(ctx.url, target_branch, ctx.cache_dir, ctx.auth, author=ctx.author)
    if entry.get("approval", "none") == "none":
        result = await repo.apply_intents(
            [intent],
            ctx.message.collecting(partial(apply_intent, policy=ctx.policy)),
            signing=ctx.signing,
            subject=ctx.message,
        )
        if intent.id not in result.applied:
            raise WriteBackError(result.failed.get(intent.id) or "not applied")
        return result.applied[intent.id], f"{intent.path}@{target_branch}: committed"
    target = await forge_target(ctx.kube, ctx.namespace, dict(ctx.gitops.get("approval") or {}), ctx.url)
    namespace, name = intent.canary.split("/", 1)
    opened = await open_proposal(
        repo,
        target,
        intent,
        ProposalEdits(ctx.policy),
        head=branch_name(namespace, name, f"promote-to-{intent.id}"),
        title=f"{pr_title(intent.canary, intent.image)} in {intent.path}",
        body=lambda _manifest, _created: _body(intent, intent.path),
        signing=ctx.signing,
        message=ctx.message,
    )
    return opened.commit, f"{intent.path}: pull request {opened.pull_request.url}"


async def deliver(ctx: DeliveryContext, intents: Sequence[Intent]) -> PromoteToOutcome:
    """Commit or propose each ``promoteTo`` intent that the normal batch does not carry."""
    outcome = PromoteToOutcome()
    for intent in intents:
        entry = _entry_for(ctx.gitops, intent.path)
        if entry is None:
            outcome.failed[intent.id] = f"promoteTo entry for path {intent.path!r} is no longer in the spec"
            continue
        try:
            commit, note = await _deliver_one(ctx, intent, entry)
        except FAILURES as exc:
            outcome.failed[intent.id] = f"promoteTo {intent.path}: {exc}"
            continue
        outcome.applied[intent.id] = commit
        outcome.notes[intent.id] = note
    return outcome
