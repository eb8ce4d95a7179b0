"""What a write-back intent changes in a checked-out repository.

- **rollback**: every ``$imagepolicy`` marker under the intent's path whose policy currently
  points at the failed image is set back to the image the primary runs; the failed tag is
  quarantined on those ImagePolicies (semver range or ImageRepository exclusionList), found
  anywhere in the repository. A failed revision that kept the primary's image (a config change)
  is only recorded: there is no image to revert, and its tag is the primary's, never quarantined.
- **inconclusive** (a rollback intent whose result is ``inconclusive``: the analysis gave up because
  its checks could not measure): the markers are reverted as on a rollback when
  ``onInconclusive.revert`` is on (the default), and the tag is **never** quarantined, whatever
  ``onRollback.quarantine`` says: nothing showed that the release is bad, so image automation
  may propose it again.
- **promotion**: every ``$gitcanary`` marker for the Canary is pinned to the promoted image.
- both write a small record file ``.gitcanary/<namespace>/<canary>.txt`` (plain text, so Flux
  never tries to apply it) holding the last result, so that the decision is in Git even when no
  marker exists.

Nothing here reads or writes through a symlink (:mod:`controller.gitops.edits.worktree_files`): a
committed symlink as the record file, or on the way to it, is refused before anything is written.
Files the marker scan cannot use are reported in ``skipped`` (for an Event each) instead of
failing the intent.

Every edit is idempotent: re-applying an intent changes nothing, and an empty list of changed
files tells the worker the content already says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from controller.gitops.edits.markers import find_markers, parse_image, pin_canary_image, revert_image_policy
from controller.gitops.edits.quarantine import quarantine_tag
from controller.gitops.edits.worktree_files import (
    SkippedFile,
    UnsafePathError,
    read_in_worktree,
    scope_in_worktree,
    write_in_worktree,
)
from controller.gitops.workflow.intents import Intent


@dataclass(frozen=True)
class EditPolicy:
    """``spec.gitops.onRollback`` / ``onInconclusive`` / ``onPromotion`` switches."""

    revert: bool = True
    quarantine: bool = True
    pin: bool = True
    record: bool = True
    revert_inconclusive: bool = True


INCONCLUSIVE = "inconclusive"
"""The ``result`` of a rollback intent that carries no verdict: never quarantined."""


def rollback_edits(intent: Intent, policy: EditPolicy) -> tuple[bool, bool]:
    """(revert, quarantine) for a rollback intent: a verdict follows ``onRollback``; an
    inconclusive give-up reverts per ``onInconclusive.revert`` and never quarantines."""
    if intent.result == INCONCLUSIVE:
        return policy.revert_inconclusive, False
    return policy.revert, policy.quarantine


def _scope(worktree: Path, path: str) -> Path:
    """The directory (or file) ``path`` names, relative to the repository root as Flux reads it
    (``./apps``, ``apps`` and ``/apps`` are the same); ``..`` leaving it, or a symlink, is refused."""
    return scope_in_worktree(worktree, path)


def policies_pointing_at(root: Path, image: str, skipped: list[SkippedFile] | None = None) -> list[str]:
    """The ``ns:name`` refs of ImagePolicies whose markers currently hold ``image``.

    A marker matches when it holds the whole image, its tag or its digest. A ``:name`` marker
    (the repository alone, shared by every tag) never identifies an image on its own, and a
    marker for a part the image lacks (a ``:tag`` marker for a digest-only image) never matches.
    Only files whose bytes contain the image's tag or digest are parsed.
    """
    failed = parse_image(image)
    wanted: dict[str, str | None] = {"image": failed.image, "tag": failed.tag, "digest": failed.digest}
    mentions = [value for value in (failed.tag, failed.digest) if value] or [failed.image]
    refs: set[str] = set()
    for marker in find_markers(root, kind="imagepolicy", mentions=mentions, skipped=skipped):
        value = wanted.get(marker.field)
        if value is not None and marker.current_value == value:
            refs.add(marker.ref)
    return sorted(refs)


RECORD_DIRECTORY = ".gitcanary"


def _record_relative(canary: str) -> str:
    namespace, name = canary.split("/", 1)
    if not namespace or not name or "/" in name or {namespace, name} & {".", ".."}:
        raise UnsafePathError(f"canary key {canary!r} is not '<namespace>/<name>'")
    return f"{RECORD_DIRECTORY}/{namespace}/{name}.txt"


def record_file(worktree: Path, canary: str) -> Path:
    return worktree / _record_relative(canary)


def _record_content(intent: Intent) -> bytes:
    return (
        f"canary: {intent.canary}\nresult: {intent.result}\nimage: {intent.image}\n"
        f"previous-image: {intent.previous_image}\nanalysis: {intent.analysis}\n"
        f"source: {intent.source_revision}\nintent: {intent.id}\n"
    ).encode()


def apply_intent(
    worktree: Path,
    intent: Intent,
    policy: EditPolicy = EditPolicy(),
    notes: list[str] | None = None,
    skipped: list[SkippedFile] | None = None,
    also: Sequence[str] = (),
) -> list[Path]:
    """Edit the worktree for ``intent``; return the changed files (empty: already applied).

    ``notes`` collects what the user should know, e.g. that no marker matched, so the caller can
    surface it as a condition and an Event instead of silently recording only. ``skipped``
    collects the files the scan could not use (each once), for an Event naming each. ``also``
    names more directories or files the marker scan searches besides ``intent.path`` (a
    HelmRelease chart's directory and values files).
    """
    found: list[SkippedFile] = []
    changed = _apply(worktree, intent, policy, notes, found, tuple(also))
    if skipped is not None:
        known = {item.path for item in skipped}
        for item in found:
            if item.path not in known:
                known.add(item.path)
                skipped.append(item)
    return changed


def _apply(
    worktree: Path,
    intent: Intent,
    policy: EditPolicy,
    notes: list[str] | None,
    skipped: list[SkippedFile],
    also: tuple[str, ...] = (),
) -> list[Path]:
    paths = tuple(dict.fromkeys((intent.path, *also)))
    roots = [_scope(worktree, path) for path in paths]
    where = ", ".join(paths)
    record = _record_relative(intent.canary)
    # Read first: a symlink on the record's way is refused before any file is edited.
    recorded = read_in_worktree(worktree, record) if policy.record else None
    changed: list[Path] = []
    if intent.kind == "rollback" and intent.previous_image == intent.image:
        # The failed revision changed no image (a ConfigMap, an env var): reverting would do
        # nothing, and quarantining would exclude the tag the primary runs.
        if notes is not None:
            notes.append(
                f"the failed revision kept the image {intent.image} (a configuration change?): "
                "Git is not reverted and no tag is quarantined; revert that change in Git"
            )
    elif intent.kind == "rollback":
        revert, quarantine = rollback_edits(intent, policy)
        pointing = {
            root: policies_pointing_at(root, intent.previous_image, skipped) if intent.previous_image else []
            for root in roots
        }
        if (
            not any(pointing.values())
            and revert
            and notes is not None
            and not any(find_markers(root, kind="imagepolicy") for root in roots)
        ):
            notes.append(f'no "$imagepolicy" markers under {where}: nothing to revert in Git')
        tag = parse_image(intent.previous_image).value_for("tag") if intent.previous_image else None
        for root, refs in pointing.items():
            for ref in refs:
                if revert:
                    changed += revert_image_policy(root, ref, intent.image, skipped)
                if quarantine and tag:
                    changed += quarantine_tag(worktree, ref, tag, skipped)
    elif intent.kind in ("promotion", "promoteTo") and policy.pin:
        namespace, name = intent.canary.split("/", 1)
        ref = f"{namespace}:{name}"
        found = [find_markers(root, kind="gitcanary", ref=ref, skipped=skipped) for root in roots]
        if notes is not None and not any(found):
            notes.append(f'no "$gitcanary": "{ref}" markers under {where}: the promotion is only recorded')
        for root in roots:
            changed += pin_canary_image(root, ref, intent.image, skipped)
    content = _record_content(intent)
    if policy.record and recorded != content:
        changed.append(write_in_worktree(worktree, record, content))
    return _unique(changed)


def _unique(paths: Sequence[Path]) -> list[Path]:
    seen: dict[Path, None] = {}
    for path in paths:
        seen.setdefault(path, None)
    return list(seen)
