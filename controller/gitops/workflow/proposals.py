"""Propose a change by pull request: push a branch with the edits, then open (or adopt) the PR.

Shared by promotion approval (:mod:`controller.gitops.workflow.approval_gate`) and ``promoteTo`` entries
with ``approval: pullRequest`` (:mod:`controller.gitops.workflow.promote_to`).

Steps, each idempotent and restart-safe:
1. :func:`~controller.gitops.plumbing.proposal_branch.propose_branch` pushes a deterministic branch name created from the
   target branch; a branch that already exists on the remote is reused untouched;
2. :meth:`Forge.open_or_adopt` opens the PR, or adopts the open one for the same head and base
   (refreshing its body), so a crash between the two steps never opens a second PR.

The approval edit: besides the intent's own edits (``$gitcanary`` pins), the Canary's manifest in
the repository gets ``gitcanary.io/approved-revision: <revision>``. The manifest is looked up
under the intent's path first, then in the whole repository; only ``*.yaml``/``*.yml`` files that
mention ``kind: Canary`` are parsed. When none is found the branch still carries the pins, and
:class:`Opened` says so (``manifest=None``) so the caller can tell the user.

Invariants: the forge token never reaches a log, Event, status or exception message (the forge
adapters redact it); Git credentials stay inside :class:`WriteBackRepo`.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.errors import PermanentError
from controller.gitops.edits.apply import EditPolicy, apply_intent
from controller.gitops.forges import Forge, PullRequest, RepoRef
from controller.gitops.forges.factory import forge_for
from controller.gitops.plumbing.proposal_branch import propose_branch
from controller.gitops.plumbing.repo import WriteBackRepo
from controller.gitops.workflow.approval import ApprovalEditError, approval_annotation_patch
from controller.gitops.workflow.commit_message import CommitMessage
from controller.gitops.workflow.intents import Intent
from controller.kube import Kube

__all__ = [
    "DEFAULT_PROVIDER",
    "ForgeTarget",
    "Opened",
    "ProposalEdits",
    "annotate_canary_manifest",
    "find_canary_manifest",
    "forge_target",
    "open_proposal",
]

Obj = dict[str, Any]
DEFAULT_PROVIDER = "github"
TOKEN_KEY = "token"
_SKIPPED_DIRS = frozenset({".git", ".gitcanary", "node_modules"})


class ForgeSettingsError(PermanentError, LookupError):
    """The approval settings name no usable forge (no secretRef, no token key, bad URL)."""


@dataclass(frozen=True)
class ForgeTarget:
    """A forge adapter and the repository on it."""

    forge: Forge
    repo: RepoRef


async def forge_target(kube: Kube, namespace: str, approval: Obj, remote_url: str) -> ForgeTarget:
    """The forge for ``spec.gitops.approval``: token from ``secretRef`` key ``token``, API base
    from ``apiURL`` (else the forge's convention for the remote's host)."""
    secret_name = (approval.get("secretRef") or {}).get("name")
    if not secret_name:
        raise ForgeSettingsError("spec.gitops.approval.secretRef is required for pull requests")
    secret = await kube.get("v1", "Secret", namespace, secret_name)
    encoded = ((secret or {}).get("data") or {}).get(TOKEN_KEY)
    if secret is None or not encoded:
        raise ForgeSettingsError(f"secret {namespace}/{secret_name} has no {TOKEN_KEY!r} key")
    token = base64.b64decode(encoded).decode().strip()
    try:
        repo = RepoRef.parse(remote_url)
    except ValueError as error:
        raise ForgeSettingsError(f"the Git remote names no forge repository: {error}") from error
    forge = forge_for(approval.get("provider") or DEFAULT_PROVIDER, approval.get("apiURL") or None, token)
    return ForgeTarget(forge=forge, repo=repo)


def _manifests(root: Path) -> Iterator[Path]:
    if root.is_file():
        yield root
        return
    for path in sorted(root.rglob("*")):
        parts = path.relative_to(root).parts
        if path.suffix in (".yaml", ".yml") and path.is_file() and not _SKIPPED_DIRS.intersection(parts):
            yield path


def find_canary_manifest(worktree: Path, scope: str, name: str, namespace: str) -> Path | None:
    """The file holding the ``gitcanary.io`` Canary ``namespace/name``: under ``scope`` first,
    then anywhere in the repository; None when no file (or more than one Canary) matches."""
    base = worktree.resolve()
    scoped = (base / scope.lstrip("/")).resolve()
    roots = [scoped, base] if scoped != base and base in scoped.parents else [base]
    for root in roots:
        if not root.exists():
            continue
        for path in _manifests(root):
            text = path.read_text(encoding="utf-8", errors="replace")
            if "Canary" not in text or "gitcanary.io/" not in text or name not in text:
                continue
            try:
                approval_annotation_patch(text, "probe", name=name, namespace=namespace)
            except ApprovalEditError:
                continue
            return path
    return None


def annotate_canary_manifest(
    worktree: Path, scope: str, name: str, namespace: str, revision: str
) -> tuple[Path | None, list[Path]]:
    """Set the approval annotation on the Canary manifest: (the file or None, changed files)."""
    path = find_canary_manifest(worktree, scope, name, namespace)
    if path is None:
        return None, []
    raw = path.read_bytes().decode("utf-8")
    edited = approval_annotation_patch(raw, revision, name=name, namespace=namespace)
    if edited == raw:
        return path, []
    path.write_bytes(edited.encode("utf-8"))
    return path, [path]


@dataclass
class ProposalEdits:
    """The ``apply`` callable for a proposal branch: the intent's edits plus, when
    ``approve_revision`` is set, the approval annotation on the Canary manifest."""

    policy: EditPolicy
    approve_revision: str | None = None
    manifest: str | None = field(default=None, init=False)
    """The repository-relative path of the annotated manifest, once found."""

    def __call__(self, worktree: Path, intent: Intent) -> list[Path]:
        changed = apply_intent(worktree, intent, self.policy)
        if self.approve_revision is None:
            return changed
        namespace, name = intent.canary.split("/", 1)
        path, edited = annotate_canary_manifest(worktree, intent.path, name, namespace, self.approve_revision)
        if path is not None:
            self.manifest = path.resolve().relative_to(worktree.resolve()).as_posix()
        return [*changed, *edited]


@dataclass(frozen=True)
class Opened:
    """A proposal on the forge."""

    pull_request: PullRequest
    commit: str
    branch_created: bool
    manifest: str | None
    """The annotated Canary manifest; None when it was not found (or the branch was reused)."""


async def open_proposal(
    repo: WriteBackRepo,
    target: ForgeTarget,
    intent: Intent,
    edits: ProposalEdits,
    *,
    head: str,
    title: str,
    body: Callable[[str | None, bool], str],
    signing: Any = None,
    message: CommitMessage | None = None,
) -> Opened:
    """Push ``head`` (from ``repo.branch``) carrying ``intent`` and open or adopt its PR.

    ``body(manifest, branch_created)`` renders the PR description once the branch is known;
    ``message`` (``spec.gitops.commit.messageTemplate``) the commit's text, else the default.
    """
    if message is None:
        proposal = await propose_branch(repo, [intent], edits, head, signing=signing)
    else:
        apply = message.collecting(edits)
        proposal = await propose_branch(repo, [intent], apply, head, signing=signing, subject=message)
    manifest = edits.manifest if proposal.created else None
    pull_request = await target.forge.open_or_adopt(
        target.repo, head, repo.branch, title, body(manifest, proposal.created)
    )
    return Opened(pull_request, proposal.commit, proposal.created, manifest)
