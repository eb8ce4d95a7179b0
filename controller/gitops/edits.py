"""What a write-back intent changes in a checked-out repository.

- **rollback**: every ``$imagepolicy`` marker under the intent's path whose policy currently
  points at the failed image is set back to the image the primary runs; the failed tag is
  quarantined on those ImagePolicies (semver range or ImageRepository exclusionList), found
  anywhere in the repository. A failed revision that kept the primary's image (a config change)
  is only recorded: there is no image to revert, and its tag is the primary's, never quarantined.
- **promotion**: every ``$gitcanary`` marker for the Canary is pinned to the promoted image.
- both write a small record file ``.gitcanary/<namespace>/<canary>.txt`` (plain text, so Flux
  never tries to apply it) holding the last result, so that the decision is in Git even when no
  marker exists.

Every edit is idempotent: re-applying an intent changes nothing, and an empty list of changed
files tells the worker the content already says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from controller.gitops.intents import Intent
from controller.gitops.markers import find_markers, parse_image, pin_canary_image, revert_image_policy
from controller.gitops.quarantine import quarantine_tag


@dataclass(frozen=True)
class EditPolicy:
    """``spec.gitops.onRollback`` / ``onPromotion`` switches."""

    revert: bool = True
    quarantine: bool = True
    pin: bool = True
    record: bool = True


def _scope(worktree: Path, path: str) -> Path:
    """The directory (or file) ``path`` names, relative to the repository root as Flux reads it
    (``./apps``, ``apps`` and ``/apps`` are the same); ``..`` or a symlink leaving it is refused."""
    base = worktree.resolve()
    root = (base / path.lstrip("/")).resolve()
    if base != root and base not in root.parents:
        raise ValueError(f"gitops path {path!r} leaves the repository")
    return root


def policies_pointing_at(root: Path, image: str) -> list[str]:
    """The ``ns:name`` refs of ImagePolicies whose markers currently hold ``image``.

    A marker matches when it holds the whole image, its tag or its digest. A ``:name`` marker
    (the repository alone, shared by every tag) never identifies an image on its own, and a
    marker for a part the image lacks (a ``:tag`` marker for a digest-only image) never matches.
    """
    failed = parse_image(image)
    wanted: dict[str, str | None] = {"image": failed.image, "tag": failed.tag, "digest": failed.digest}
    refs: set[str] = set()
    for marker in find_markers(root, kind="imagepolicy"):
        value = wanted.get(marker.field)
        if value is not None and marker.current_value == value:
            refs.add(marker.ref)
    return sorted(refs)


def record_file(worktree: Path, canary: str) -> Path:
    namespace, name = canary.split("/", 1)
    return worktree / ".gitcanary" / namespace / f"{name}.txt"


def _write_record(worktree: Path, intent: Intent) -> list[Path]:
    path = record_file(worktree, intent.canary)
    content = (
        f"canary: {intent.canary}\nresult: {intent.result}\nimage: {intent.image}\n"
        f"previous-image: {intent.previous_image}\nanalysis: {intent.analysis}\n"
        f"source: {intent.source_revision}\nintent: {intent.id}\n"
    )
    if path.exists() and path.read_text() == content:
        return []
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    return [path]


def apply_intent(
    worktree: Path, intent: Intent, policy: EditPolicy = EditPolicy(), notes: list[str] | None = None
) -> list[Path]:
    """Edit the worktree for ``intent``; return the changed files (empty: already applied).

    ``notes`` collects what the user should know, e.g. that no marker matched, so the caller can
    surface it as a condition and an Event instead of silently recording only.
    """
    root = _scope(worktree, intent.path)
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
        refs = policies_pointing_at(root, intent.previous_image) if intent.previous_image else []
        if not refs and policy.revert and notes is not None and not find_markers(root, kind="imagepolicy"):
            notes.append(f'no "$imagepolicy" markers under {intent.path}: nothing to revert in Git')
        for ref in refs:
            if policy.revert:
                changed += revert_image_policy(root, ref, intent.image)
            tag = parse_image(intent.previous_image).value_for("tag")
            if policy.quarantine and tag:
                changed += quarantine_tag(worktree, ref, tag)
    elif intent.kind in ("promotion", "promoteTo") and policy.pin:
        namespace, name = intent.canary.split("/", 1)
        ref = f"{namespace}:{name}"
        if notes is not None and not find_markers(root, kind="gitcanary", ref=ref):
            notes.append(
                f'no "$gitcanary": "{ref}" markers under {intent.path}: the promotion is only recorded'
            )
        changed += pin_canary_image(root, ref, intent.image)
    if policy.record:
        changed += _write_record(worktree, intent)
    return _unique(changed)


def _unique(paths: Sequence[Path]) -> list[Path]:
    seen: dict[Path, None] = {}
    for path in paths:
        seen.setdefault(path, None)
    return list(seen)
