"""Push a write-back batch to a NEW branch for a pull request, never to the write-back branch.

:func:`propose_branch` applies a batch on top of ``origin/<branch>`` of a
:class:`~controller.gitops.plumbing.repo.WriteBackRepo` and pushes it to ``head``
(``gitcanary/promote/...``). A head branch that already exists on the remote is reused as it is
(a restart, or a person who added commits to it), so proposing twice pushes once. It runs under
the repository's lock and deadline like every write-back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from controller.gitops.plumbing.clone import Config, WriteBackError
from controller.gitops.plumbing.credentials import SigningKey
from controller.gitops.plumbing.repo import ApplyIntent, WriteBackRepo, default_subject
from controller.gitops.workflow.intents import Intent
from controller.gitops.workflow.trailers import build_message

__all__ = ["Proposal", "propose_branch"]


@dataclass(frozen=True)
class Proposal:
    """What :func:`propose_branch` left on the remote."""

    head: str
    """The proposal branch."""
    commit: str
    """Its tip."""
    created: bool
    """False when the branch already existed and was reused untouched."""


async def propose_branch(
    repo: WriteBackRepo,
    intents: Sequence[Intent],
    apply: ApplyIntent,
    head: str,
    *,
    signing: SigningKey | None = None,
    subject: Callable[[Sequence[Intent]], str] = default_subject,
) -> Proposal:
    """Commit ``intents`` on top of ``origin/<branch>`` and push them to the new branch ``head``.

    An existing ``head`` on the remote is reused untouched. Every intent must apply and the
    batch must change something, else :class:`WriteBackError` (nothing is pushed).
    """
    if head == repo.branch:
        raise ValueError("the proposal branch must differ from the write-back branch")
    unique = list({i.id: i for i in intents}.values())
    if not unique:
        raise ValueError("nothing to propose")
    async with repo.session(signing) as config:
        return await asyncio.to_thread(_propose, repo, unique, apply, head, config, subject)


def _propose(
    repo: WriteBackRepo,
    intents: list[Intent],
    apply: ApplyIntent,
    head: str,
    config: Config,
    subject: Callable[[Sequence[Intent]], str],
) -> Proposal:
    clone = repo.clone
    with clone.locked():
        clone.ensure()
        existing = clone.fetch_branch(head)
        if existing is not None:
            return Proposal(head=head, commit=existing, created=False)
        clone.reset_to(clone.fetch())
        kept: dict[str, bytes | None] = {}
        files: list[str] = []
        for intent in intents:
            try:
                files += repo.apply_one(intent, apply, kept)
            except Exception as exc:
                clone.restore({})
                raise WriteBackError(
                    clone.redact(f"intent {intent.id}: {type(exc).__name__}: {exc}")
                ) from exc
        if not clone.stage(sorted(set(files))):
            raise WriteBackError(f"nothing to propose on {head}: the files already say so")
        head_line, _, body = subject(intents).partition("\n")  # the subject line, then the body
        message = build_message(head_line, [i.trailer_block() for i in intents], body)
        commit = clone.commit(message, config, sign=dict(config)["commit.gpgsign"] == "true")
        rejection = clone.push_new_branch(commit, head)
        if rejection is None:
            return Proposal(head=head, commit=commit, created=True)
        raced = clone.fetch_branch(head)  # created concurrently: reuse theirs
        if raced is None:
            raise WriteBackError(f"push of {head} to {repo.url} rejected: {rejection}", retriable=True)
        return Proposal(head=head, commit=raced, created=False)
