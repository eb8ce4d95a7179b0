"""Promotion approval by pull request, as a built-in confirm-promotion and rollback gate.

With ``spec.gitops.approval.mode: pullRequest`` the analysis engine is told the Canary has
``confirm-promotion`` and ``rollback`` hooks (``controller.reconcile.spec_mapping``), and the
tick's RunWebhooks requests for those types are answered here (``controller.reconcile.world``):

- **confirm-promotion** is OPEN iff the Canary carries ``gitcanary.io/approved-revision`` equal to
  the revision under analysis (Flux applied the merged PR). Otherwise it is closed, and the gate
  makes sure the PR exists: it pushes ``gitcanary/promote/<ns>/<canary>/<revision>`` from the
  Canary's branch with the promotion edits (``$gitcanary`` pins under the gitops path, the record
  file) plus the annotation on the Canary's manifest in the repository, then opens or adopts the
  PR with the analysis summary (:mod:`controller.gitops.workflow.proposals`).
- **rollback** is requested when the PR was closed without merging, or when it stayed open past
  ``timeout`` with ``onTimeout: rollback`` (a comment on the PR says why).

The promotion commit on the branch carries the same ``Gitcanary-Intent`` id as the promotion
write-back the runner queues once the canary is promoted, so after a merge that write-back finds
its trailer in history and commits nothing twice.

Invariants:
- Nothing lives only in memory: the branch name is deterministic, ``open_or_adopt`` adopts an
  open PR for the same head and base, and the PR number, URL, state and opening time live in
  ``status.gitops.approval`` (:attr:`ApprovalGate.status`, persisted by the runner in the tick's
  status patch). A crash anywhere is replayed by the next tick without a second PR.
- The gate reads the forge at most once per tick (the PR is cached on the gate, which lives for
  one tick); a closed gate costs no forge call when no PR is recorded for this revision.
- Forge, Git and settings failures close the gate (and request no rollback) with the error in
  the answer and a Warning Event; they never crash the tick. The token never appears in them.
- A merge always approves, even a late one; an annotation for another revision approves nothing.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from controller.api.canary import Canary
from controller.api.duration import parse_duration
from controller.api.gitops import ApprovalSpec, GitOpsSpec
from controller.api.parsed import parsed_canary
from controller.api.timestamps import rfc3339
from controller.errors import FAILURES
from controller.events import record_event
from controller.gitops.edits.apply import EditPolicy
from controller.gitops.forges import PullRequest
from controller.gitops.workflow.approval import (
    APPROVED_REVISION_ANNOTATION,
    MetricRow,
    approval_decision,
    branch_name,
    is_approved,
    pr_body,
    pr_title,
)
from controller.gitops.workflow.intents import Intent
from controller.gitops.workflow.proposals import (
    ForgeTarget,
    ProposalEdits,
    forge_target,
    open_proposal,
)
from controller.gitops.workflow.worker import open_repository
from controller.kube import Kube

__all__ = ["APPROVAL_HOOK", "ApprovalGate", "GateAnswer", "approval_enabled"]

Obj = dict[str, Any]
APPROVAL_HOOK = "gitcanary-approval"
"""The name the built-in gate reports as the deciding webhook."""
PULL_REQUEST_MODE = "pullRequest"


def approval_enabled(canary: Canary) -> bool:
    """True when ``spec.gitops.approval.mode`` is ``pullRequest``."""
    gitops = canary.spec.gitops
    return gitops is not None and gitops.approval.mode == PULL_REQUEST_MODE


@dataclass(frozen=True)
class GateAnswer:
    """``ok``: the confirm gate is open, or (rollback) a rollback is requested."""

    ok: bool
    message: str


def _parse_stamp(text: str | None, fallback: float) -> dt.datetime:
    try:
        return dt.datetime.strptime(text or "", "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        return dt.datetime.fromtimestamp(fallback, dt.UTC)


PromotionIntent = Callable[[], Awaitable[Obj]]
"""Returns the raw promotion intent (``status.gitops.pending`` form) the runner would queue."""


@dataclass
class ApprovalGate:
    """The approval gate of one Canary for one tick."""

    kube: Kube
    canary: Obj
    revision: str
    promotion_intent: PromotionIntent
    summary: str = ""
    metrics: Sequence[MetricRow] = ()
    now: float = 0.0
    status: Obj | None = None
    """``status.gitops.approval`` to persist, set when this tick learnt something new."""
    _pull_request: PullRequest | None = field(default=None, init=False)
    _target: ForgeTarget | None = field(default=None, init=False)

    # -- the two answers ----------------------------------------------------------------------

    async def confirm(self) -> GateAnswer:
        """Open iff the Canary's annotation approves this revision; else ensure the PR exists."""
        if is_approved(self._annotations, self.revision):
            return GateAnswer(True, f"revision {self.revision} approved ({APPROVED_REVISION_ANNOTATION})")
        try:
            recorded = self._recorded()
            if recorded is None:
                return await self._open()
            pr = await self._current(recorded)
        except FAILURES as exc:
            return await self._failed(exc)
        if pr.state == "merged":
            return GateAnswer(
                False,
                f"pull request {pr.url} merged; waiting for Flux to apply {APPROVED_REVISION_ANNOTATION}",
            )
        if pr.state == "closed":
            return GateAnswer(False, f"pull request {pr.url} was closed without merging")
        return GateAnswer(False, f"waiting for approval: merge pull request {pr.url}")

    async def rollback(self) -> GateAnswer:
        """Requested when the PR was closed unmerged, or timed out with ``onTimeout: rollback``."""
        recorded = self._recorded()
        if recorded is None or is_approved(self._annotations, self.revision):
            return GateAnswer(False, "no approval pull request rejected")
        try:
            pr = await self._current(recorded)
            decision = approval_decision(
                pr.state,
                _parse_stamp(recorded.get("openedAt"), self.now),
                self._timeout_s(),
                dt.datetime.fromtimestamp(self.now, dt.UTC),
                self._on_timeout(),
            )
            if decision == "rejected":
                return GateAnswer(
                    True, f"pull request {pr.url} was closed without merging: promotion rejected"
                )
            if decision != "timed-out":
                return GateAnswer(False, f"pull request {pr.url} is {pr.state}")
            message = f"not approved within {self._approval.timeout}: rolling back"
            target = await self._forge()
            await target.forge.comment(
                target.repo, pr.number, f"gitcanary: {message} revision {self.revision}."
            )
        except FAILURES as exc:
            failed = await self._failed(exc)
            return GateAnswer(False, failed.message)
        return GateAnswer(True, f"pull request {pr.url} {message}")

    # -- reading -------------------------------------------------------------------------------

    @property
    def _annotations(self) -> Mapping[str, str]:
        return cast(Mapping[str, str], self.canary["metadata"].get("annotations") or {})

    @property
    def _gitops(self) -> GitOpsSpec:
        """The Canary's ``spec.gitops`` as the models read it (the gate runs on valid Canaries)."""
        return parsed_canary(self.canary).spec.gitops or GitOpsSpec()

    @property
    def _approval(self) -> ApprovalSpec:
        return self._gitops.approval

    @property
    def _key(self) -> str:
        meta = self.canary["metadata"]
        return f"{meta['namespace']}/{meta['name']}"

    def _timeout_s(self) -> float:
        seconds = parse_duration(self._approval.timeout)
        return seconds if seconds > 0 else math.inf

    def _on_timeout(self) -> Literal["rollback", "wait"]:
        return self._approval.on_timeout

    def _recorded(self) -> Obj | None:
        """``status.gitops.approval`` when it is about this revision and names a PR."""
        if self.status is not None:
            current: Obj = self.status
        else:
            gitops = (self.canary.get("status") or {}).get("gitops") or {}
            current = dict(gitops.get("approval") or {})
        if current.get("revision") != self.revision or not current.get("number"):
            return None
        return current

    async def _forge(self, source_url: str | None = None) -> ForgeTarget:
        if self._target is None:
            url = source_url or await self._source_url()
            namespace = self.canary["metadata"]["namespace"]
            self._target = await forge_target(self.kube, namespace, self._approval.to_k8s(), url)
        return self._target

    async def _source_url(self) -> str:
        gitops_status = (self.canary.get("status") or {}).get("gitops") or {}
        url = (gitops_status.get("source") or {}).get("url")
        if url:
            return str(url)
        return (await open_repository(self.kube, self.canary)).source.url

    async def _current(self, recorded: Obj) -> PullRequest:
        if self._pull_request is None:
            target = await self._forge()
            self._pull_request = await target.forge.get(target.repo, int(recorded["number"]))
            self._remember(self._pull_request, recorded.get("openedAt") or rfc3339(self.now))
        return self._pull_request

    def _remember(self, pr: PullRequest, opened_at: str) -> None:
        self.status = {
            "pullRequestURL": pr.url,
            "number": pr.number,
            "state": pr.state,
            "revision": self.revision,
            "openedAt": opened_at,
        }

    # -- opening -------------------------------------------------------------------------------

    async def _open(self) -> GateAnswer:
        opened_repo = await open_repository(self.kube, self.canary)
        source = opened_repo.source
        target = await self._forge(source.url)
        raw = await self.promotion_intent()
        intent = Intent(
            id=str(raw["id"]),
            kind="promotion",
            canary=self._key,
            repository=source.url,
            branch=source.branch,
            path=source.path,
            image=str(raw.get("image") or ""),
            previous_image=str(raw.get("previousImage") or ""),
            result=str(raw.get("result") or "promoted"),
            analysis=str(raw.get("analysis") or self.summary),
            source_revision=source.revision,
            created_at=self.now,
        )
        namespace, name = self._key.split("/", 1)
        opened = await open_proposal(
            opened_repo.repo,
            target,
            intent,
            ProposalEdits(self._policy(), approve_revision=self.revision),
            head=branch_name(namespace, name, self.revision),
            title=pr_title(self._key, intent.image),
            body=lambda manifest, created: self._body(intent.image, manifest, created),
            signing=opened_repo.signing,
        )
        pr = opened.pull_request
        self._pull_request = pr
        self._remember(pr, rfc3339(self.now))
        await record_event(
            self.kube,
            self.canary,
            "Normal",
            "ApprovalRequested",
            f"promotion of revision {self.revision} awaits approval: merge {pr.url}",
        )
        if opened.branch_created and opened.manifest is None:
            await record_event(
                self.kube, self.canary, "Warning", "ApprovalManifestNotFound", self._not_found()
            )
        return GateAnswer(False, f"waiting for approval: opened pull request {pr.url}")

    def _policy(self) -> EditPolicy:
        on_promotion = self._gitops.on_promotion
        return EditPolicy(pin=on_promotion.pin, record=on_promotion.record)

    def _not_found(self) -> str:
        return (
            f"the Canary manifest {self._key} was not found in the repository, so the pull request cannot "
            f"carry {APPROVED_REVISION_ANNOTATION}; after merging, set it another way, e.g. "
            f"kubectl annotate canary -n {self._key.replace('/', ' ')} {APPROVED_REVISION_ANNOTATION}={self.revision}"
        )

    def _body(self, image: str, manifest: str | None, created: bool) -> str:
        summary = self.summary or "the canary analysis passed"
        if manifest is not None:
            summary += f" The approval annotation is set in {manifest}."
        elif created:
            summary += " Note: " + self._not_found() + "."
        return pr_body(self._key, self.revision, image, summary, self.metrics)

    async def _failed(self, exc: Exception) -> GateAnswer:
        message = f"approval by pull request failed: {type(exc).__name__}: {exc}"[:1000]
        await record_event(self.kube, self.canary, "Warning", "ApprovalFailed", message)
        return GateAnswer(False, message)
