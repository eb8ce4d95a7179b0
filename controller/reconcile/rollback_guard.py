"""Keep a rollback in force while Git proposes the failed image again.

Flux image automation reads the ImagePolicy's latest tag before it clones. A run that starts in
the second or two between our revert-and-quarantine push and Flux applying the new range can
commit the failed tag again, on top of our revert. Flux then applies that commit: the target
keeps the failed image, so no new revision is detected, and Git would keep the bad tag while the
cluster runs the primary.

So while a Canary is Failed after a reverting rollback and its target still runs an image other
than the primary's, every tick compares the Git revision Flux last applied with the one the
rollback answered (``introducedBy``, and ``source.revision`` as the worker saw it when it wrote
the rollback) and with the commits gitcanary wrote. A foreign revision that source-controller
fetched after the rollback was pushed contains the revert, yet deploys the failed image: Git
proposed it again, and one more rollback intent is queued. Its id includes that revision, so it
is new, and it is applied exactly once like any other.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from controller.analysis.requests import RequestWriteBack
from controller.api.parsed import parsed_or_none
from controller.flux.correlation import (
    GitSource,
    SourceNotFound,
    kustomization_of,
    resolve_source,
    sha_of_revision,
)
from controller.kube import Kube, KubeError

log = logging.getLogger(__name__)
Obj = dict[str, Any]


@dataclass(frozen=True)
class Reapplied:
    """A Flux revision that deploys the failed image again, and the write-back that answers it."""

    revision: str  # ``main@sha1:<sha>``, as Flux reports it
    sha: str
    write_back: RequestWriteBack

    def message(self, failed_image: str, stable_image: str) -> str:
        return (
            f"Flux applied revision {self.revision} while the target still runs the failed image "
            f"{failed_image}: writing the rollback to {stable_image} back again if Git holds it"
        )


def reverted_in_git(canary: Obj) -> bool:
    """Failed, and the rollback was written back with its revert: what the Canary alone tells,
    before anything is read. Without a revert (``onRollback.revert: false``) or without markers
    (the ``Markers`` condition is False) Git was never reverted, so there is nothing to keep."""
    status = canary.get("status") or {}
    gitops = status.get("gitops") or {}
    markers: Obj = next((c for c in status.get("conditions") or [] if c.get("type") == "Markers"), {})
    return (
        status.get("phase") == "Failed"
        and not gitops.get("pending")
        and (gitops.get("lastWriteBack") or {}).get("result") == "rolled-back"
        and _reverts_rollbacks(canary)
        and markers.get("status") != "False"
    )


def _reverts_rollbacks(canary: Obj) -> bool:
    """``spec.gitops.onRollback.revert`` (default true)."""
    parsed = parsed_or_none(canary)
    if parsed is None:
        # `gitcanary retry` asks about a Canary the models may reject: read it as written, as it
        # always was (the runner only asks about valid ones).
        on_rollback = ((canary.get("spec") or {}).get("gitops") or {}).get("onRollback") or {}
        return on_rollback.get("revert", True) is not False
    return parsed.spec.gitops is None or parsed.spec.gitops.on_rollback.revert


def needs_watch(canary: Obj, target_image: str, primary_image: str) -> bool:
    """Reverted in Git, and the target still runs something else than the primary."""
    return bool(target_image) and target_image != primary_image and reverted_in_git(canary)


def _time(stamp: str) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None


def reapplied_revision(status: Obj, source: GitSource) -> Reapplied | None:
    """The write-back to queue when Flux applied a revision that is neither the one the rollback
    answered nor one of gitcanary's own commits, and that source-controller fetched after the
    rollback was pushed (so it contains the revert). While Flux is between a fetch and its apply
    (the artifact and the applied revision differ), nothing is decided."""
    flux_revision = source.revision
    sha = sha_of_revision(flux_revision)
    if not sha:
        return None
    gitops = status.get("gitops") or {}
    own = {a.get("commit") for a in gitops.get("applied") or []}
    # The revision Flux had applied when the rollback was written (the worker records it).
    answered = sha_of_revision(str((gitops.get("source") or {}).get("revision") or ""))
    if sha in (gitops.get("introducedBy"), answered) or sha in own:
        return None
    if source.artifact_revision and source.artifact_revision != flux_revision:
        return None
    fetched, pushed = (
        _time(source.artifact_time),
        _time(str((gitops.get("lastWriteBack") or {}).get("time") or "")),
    )
    if fetched is not None and pushed is not None and fetched < pushed:
        return None  # fetched before our revert was pushed: Flux has yet to apply the revert
    failure = (status.get("engine") or {}).get("lastFailure") or "the canary analysis failed"
    summary = f"{failure}; revision {flux_revision} proposed the failed image again"
    revision = str(status.get("lastAppliedSpec") or "")
    return Reapplied(flux_revision, sha, RequestWriteBack("rolled-back", revision, summary))


async def check_reapplied(
    kube: Kube, canary: Obj, target: Obj | None, target_image: str, primary_image: str
) -> Reapplied | None:
    """Look up what Flux applied last, for a Failed Canary whose target differs from its primary."""
    if target is None or not kustomization_of(target):
        return None
    if not needs_watch(canary, target_image, primary_image):
        return None
    try:
        source = await resolve_source(kube, canary, target)
    except (SourceNotFound, KubeError) as exc:
        # The next tick looks again; a write-back would fail the same way and say so.
        log.warning("could not read the Flux source of a failed canary: %s", exc)
        return None
    return reapplied_revision(canary.get("status") or {}, source)
