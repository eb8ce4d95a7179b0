"""Committed symlinks never make the write-back read or write outside the clone (real files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.gitops.edits.apply import apply_intent, record_file
from controller.gitops.edits.markers import find_markers, revert_image_policy
from controller.gitops.edits.quarantine import QuarantineError, quarantine_tag
from controller.gitops.workflow.intents import Intent, make_intent

FAILED = "ghcr.io/acme/app:2.0.0"
PRIMARY = "ghcr.io/acme/app:1.0.0"
MARKED = 'image: ghcr.io/acme/app:2.0.0 # {"$imagepolicy": "flux-system:app"}\n'
POLICY = """\
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImagePolicy
metadata:
  name: app
  namespace: flux-system
spec:
  imageRepositoryRef:
    name: app
  policy:
    semver:
      range: '>=1.0.0'
"""
GITCONFIG = "[user]\n\tname = Someone\n"


def intent(path: str = "./") -> Intent:
    return make_intent(
        kind="rollback",
        canary="test/app",
        revision="rev-b",
        repository="https://git.example.com/fleet.git",
        branch="main",
        path=path,
        image=PRIMARY,
        previous_image=FAILED,
        result="rolled-back",
        analysis="error-rate",
        source_revision="main@sha1:0123abcd",
        now=1_700_000_000.0,
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A stand-in for the controller's $HOME, outside the clone."""
    directory = tmp_path / "home"
    directory.mkdir()
    (directory / ".gitconfig").write_text(GITCONFIG)
    return directory


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    root = tmp_path / "clone"
    (root / "apps").mkdir(parents=True)
    (root / "apps" / "deployment.yaml").write_text(MARKED)
    (root / "flux-system").mkdir()
    (root / "flux-system" / "policy.yaml").write_text(POLICY)
    return root


def outside_state(home: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(home.iterdir()) if p.is_file()}


def test_record_file_symlinked_to_the_global_gitconfig_is_refused_before_writing(
    clone: Path, home: Path
) -> None:
    record = record_file(clone, "test/app")
    record.parent.mkdir(parents=True)
    record.symlink_to(home / ".gitconfig")
    with pytest.raises(ValueError, match=r"symlink.*never follows symlinks"):
        apply_intent(clone, intent())
    assert (home / ".gitconfig").read_text() == GITCONFIG


@pytest.mark.parametrize("linked", [".gitcanary", ".gitcanary/test"])
def test_record_directory_symlinked_outside_is_refused(clone: Path, home: Path, linked: str) -> None:
    link = clone / linked
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(home, target_is_directory=True)
    before = outside_state(home)
    with pytest.raises(ValueError, match="symlink"):
        apply_intent(clone, intent())
    assert outside_state(home) == before
    assert not (home / "app.txt").exists() and not (home / "test").exists()


def test_dangling_record_symlink_is_refused_and_creates_nothing(clone: Path, home: Path) -> None:
    record = record_file(clone, "test/app")
    record.parent.mkdir(parents=True)
    record.symlink_to(home / "created-by-gitcanary")
    with pytest.raises(ValueError, match="symlink"):
        apply_intent(clone, intent())
    assert not (home / "created-by-gitcanary").exists()


def test_a_regular_record_file_is_still_written(clone: Path) -> None:
    changed = apply_intent(clone, intent())
    assert record_file(clone, "test/app") in changed
    assert "result: rolled-back" in record_file(clone, "test/app").read_text()


def test_dangling_yaml_symlink_is_skipped_not_fatal(clone: Path) -> None:
    (clone / "apps" / "gone.yaml").symlink_to(clone / "apps" / "does-not-exist.yaml")
    assert [m.path.name for m in find_markers(clone)] == ["deployment.yaml"]
    changed = revert_image_policy(clone, "flux-system:app", PRIMARY)
    assert changed == [clone / "apps" / "deployment.yaml"]


def test_foreign_yaml_symlink_is_never_read_nor_written(clone: Path, home: Path) -> None:
    (home / "foreign.yaml").write_text(MARKED)
    (clone / "apps" / "foreign.yaml").symlink_to(home / "foreign.yaml")
    changed = apply_intent(clone, intent())
    assert clone / "apps" / "deployment.yaml" in changed
    assert (home / "foreign.yaml").read_text() == MARKED


def test_symlinked_directory_in_the_tree_is_not_entered(clone: Path, home: Path) -> None:
    (home / "deployment.yaml").write_text(MARKED)
    (clone / "apps" / "linked").symlink_to(home, target_is_directory=True)
    assert revert_image_policy(clone, "flux-system:app", PRIMARY) == [clone / "apps" / "deployment.yaml"]
    assert (home / "deployment.yaml").read_text() == MARKED


def test_symlinked_image_policy_is_not_quarantined(clone: Path, home: Path) -> None:
    (home / "policy.yaml").write_text(POLICY)
    (clone / "flux-system" / "policy.yaml").unlink()
    (clone / "flux-system" / "policy.yaml").symlink_to(home / "policy.yaml")
    with pytest.raises(QuarantineError, match="not found"):
        quarantine_tag(clone, "flux-system:app", "2.0.0")
    assert (home / "policy.yaml").read_text() == POLICY


def test_a_scope_through_a_symlink_inside_the_repository_is_refused(clone: Path) -> None:
    (clone / "alias").symlink_to(clone / "apps", target_is_directory=True)
    with pytest.raises(ValueError, match="symlink"):
        apply_intent(clone, intent(path="./alias"))
    assert (clone / "apps" / "deployment.yaml").read_text() == MARKED
