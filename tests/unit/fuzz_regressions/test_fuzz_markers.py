"""Files the YAML fuzz campaign (bench/chaos/fuzz_yaml.py) found, kept as regressions.

The contract (controller.gitops.edits.markers): a file that cannot be edited is reported in
``skipped`` and never fails the others, so one odd marker cannot block a rollback.
"""

from __future__ import annotations

from pathlib import Path

from controller.gitops.edits.markers import revert_image_policy
from controller.gitops.edits.worktree_files import SkippedFile

DIGEST_ONLY = "ghcr.io/acme/app@sha256:" + "b" * 64


def test_a_tag_marker_for_a_digest_only_image_skips_the_file_and_edits_the_others(tmp_path: Path) -> None:
    # Found: flow: {image: "ghcr.io/acme/app:1.0.0"\t# {"$imagepolicy": "ns:app:tag"}}: the image has
    # no tag for the ':tag' marker, and ImageReferenceError escaped revert_image_policy.
    tagged = tmp_path / "a-tagged.yaml"
    tagged.write_text('flow: {image: "ghcr.io/acme/app:1.0.0"\t# {"$imagepolicy": "ns:app:tag"}\n}\n')
    whole = tmp_path / "b-whole.yaml"
    whole.write_text('image: ghcr.io/acme/app:1.0.0 # {"$imagepolicy": "ns:app"}\n')
    skipped: list[SkippedFile] = []
    changed = revert_image_policy(tmp_path, "ns:app", DIGEST_ONLY, skipped)
    assert changed == [whole]
    assert whole.read_text() == f'image: {DIGEST_ONLY} # {{"$imagepolicy": "ns:app"}}\n'
    assert [item.path for item in skipped] == [tagged]
    assert "tag" in skipped[0].reason
