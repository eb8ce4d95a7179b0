"""`spec.gitops` and `status.gitops`: our additions to Flagger's Canary, for Git write-back.

Invariants:
- An empty `gitops: {}` is complete: every field is optional, and the source, branch and path
  are inferred from the Flux Kustomization and GitRepository that applied the target.
  Model defaults equal the CRD defaults (revert, quarantine, pin, record and reconcileFlux on;
  approval mode none, timeout 24h, onTimeout rollback).
- `status.gitops.pending` holds write-back intents by deterministic id; an intent leaves
  `pending` only through `GitOpsStatus.mark_applied`, which records it in `applied`, keeping
  the newest `APPLIED_HISTORY` entries. Both operations return new objects.
"""

from typing import Literal

from pydantic import Field

from controller.api.model import ApiModel, LocalObjectRef

__all__ = [
    "APPLIED_HISTORY",
    "AppliedIntent",
    "ApprovalMode",
    "ApprovalSpec",
    "ApprovalStatus",
    "CommitAuthor",
    "CommitSpec",
    "GitOpsSpec",
    "GitOpsStatus",
    "GitSourceRef",
    "GitSourceStatus",
    "IntentKind",
    "KustomizationRef",
    "LastWriteBack",
    "OnInconclusive",
    "OnPromotion",
    "OnRollback",
    "PromoteTarget",
    "SigningKey",
    "WriteBackIntent",
]

APPLIED_HISTORY = 20

ApprovalMode = Literal["none", "pullRequest"]
IntentKind = Literal["rollback", "promotion", "promoteTo"]
GO_DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$"


class GitSourceRef(ApiModel):
    """The Flux source holding the manifests (default: inferred from the Flux labels)."""

    kind: Literal["GitRepository"] = "GitRepository"
    name: str
    namespace: str | None = None


class CommitAuthor(ApiModel):
    name: str | None = None
    email: str | None = None


class SigningKey(ApiModel):
    secret_ref: LocalObjectRef
    format: Literal["gpg", "ssh"] = "gpg"


class CommitSpec(ApiModel):
    author: CommitAuthor | None = None
    signing_key: SigningKey | None = None
    message_template: str | None = None


class OnRollback(ApiModel):
    """What a rollback writes: revert the image, and quarantine the failed tag."""

    revert: bool = True
    quarantine: bool = True


class OnInconclusive(ApiModel):
    """What giving up on inconclusive checks writes: revert the image (never a quarantine)."""

    revert: bool = True


class OnPromotion(ApiModel):
    """What a promotion writes: pin the image to `$gitcanary` markers, record the result."""

    pin: bool = True
    record: bool = True


class ApprovalSpec(ApiModel):
    """Promotion approval through a pull request; merging it approves."""

    mode: ApprovalMode = "none"
    provider: Literal["github", "gitlab", "gitea"] | None = None
    secret_ref: LocalObjectRef | None = None
    timeout: str = Field(default="24h", pattern=GO_DURATION_PATTERN)
    on_timeout: Literal["rollback", "wait"] = "rollback"
    api_url: str | None = Field(default=None, alias="apiURL")


class PromoteTarget(ApiModel):
    """Another environment that is proposed the image after a successful promotion."""

    path: str = Field(min_length=1)
    approval: ApprovalMode = "none"
    branch: str | None = None


class GitOpsSpec(ApiModel):
    """Where and how outcomes are written back to Git; `{}` infers everything from Flux."""

    source_ref: GitSourceRef | None = None
    branch: str | None = None
    path: str | None = None
    commit: CommitSpec | None = None
    on_rollback: OnRollback = Field(default_factory=OnRollback)
    on_inconclusive: OnInconclusive = Field(default_factory=OnInconclusive)
    on_promotion: OnPromotion = Field(default_factory=OnPromotion)
    approval: ApprovalSpec = Field(default_factory=ApprovalSpec)
    promote_to: list[PromoteTarget] = []
    reconcile_flux: bool = True


class GitSourceStatus(ApiModel):
    """The Git source resolved for this canary; `revision` looks like `main@sha1:<sha>`."""

    kind: str | None = None
    name: str | None = None
    namespace: str | None = None
    url: str | None = None
    branch: str | None = None
    path: str | None = None
    revision: str | None = None


class KustomizationRef(ApiModel):
    name: str | None = None
    namespace: str | None = None


class WriteBackIntent(ApiModel):
    """A decision that must reach Git exactly once, identified by a deterministic id."""

    id: str
    kind: IntentKind
    canary_revision: str | None = None
    image: str | None = None
    previous_image: str | None = None
    result: str | None = None
    analysis: str | None = None
    created_at: str | None = None
    repository: str | None = None
    path: str | None = None


class AppliedIntent(ApiModel):
    id: str
    commit: str | None = None
    applied_at: str | None = None


class LastWriteBack(ApiModel):
    id: str | None = None
    commit: str | None = None
    result: str | None = None
    message: str | None = None
    time: str | None = None


class ApprovalStatus(ApiModel):
    pull_request_url: str | None = Field(default=None, alias="pullRequestURL")
    number: int | None = None
    state: Literal["open", "merged", "closed"] | None = None
    revision: str | None = None
    opened_at: str | None = None


class ImageAutomationStatus(ApiModel):
    """The Flux ImageUpdateAutomation that committed the image under analysis."""

    namespace: str | None = None
    name: str | None = None
    last_push_commit: str | None = None
    last_push_time: str | None = None


class GitOpsStatus(ApiModel):
    source: GitSourceStatus | None = None
    kustomization: KustomizationRef | None = None
    image_policies: list[str] = []
    image_automation: ImageAutomationStatus | None = None
    introduced_by: str | None = None
    pending: list[WriteBackIntent] = []
    applied: list[AppliedIntent] = Field(default=[], max_length=APPLIED_HISTORY)
    last_write_back: LastWriteBack | None = None
    approval: ApprovalStatus | None = None
