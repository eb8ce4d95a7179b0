"""The marker scan survives real repositories: bad files are skipped and reported, never fatal."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.gitops.edits.apply import apply_intent, policies_pointing_at
from controller.gitops.edits.markers import find_markers, revert_image_policy, set_image
from controller.gitops.edits.worktree_files import SkippedFile
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
HELM_TEMPLATE = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "app.fullname" . }}
spec:
  template:
    spec:
      containers:
        - name: app
          {{- with .Values.image }}
          image: ghcr.io/acme/app:2.0.0 # {"$imagepolicy": "flux-system:app"}
          {{- end }}
"""
BINARY = b"\x89PNG\r\n\x1a\n\x00\x00" + MARKED.encode() + b"\x00\xff"
LATIN1 = 'name: caf\xe9\nimage: ghcr.io/acme/app:2.0.0 # {"$imagepolicy": "flux-system:app"}\n'.encode(
    "latin-1"
)
TAB_INDENTED = 'spec:\n\timage: ghcr.io/acme/app:2.0.0 # {"$imagepolicy": "flux-system:app"}\n'


def intent() -> Intent:
    return make_intent(
        kind="rollback",
        canary="test/app",
        revision="rev-b",
        repository="https://git.example.com/fleet.git",
        branch="main",
        path="./",
        image=PRIMARY,
        previous_image=FAILED,
        result="rolled-back",
        analysis="error-rate",
        source_revision="main@sha1:0123abcd",
        now=1_700_000_000.0,
    )


def write(root: Path, relative: str, content: str | bytes) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_bytes(content.encode())
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    write(tmp_path, "apps/deployment.yaml", MARKED)
    write(tmp_path, "flux-system/policy.yaml", POLICY)
    return tmp_path


def reasons(skipped: list[SkippedFile], root: Path) -> dict[str, str]:
    return {s.path.relative_to(root).as_posix(): s.reason for s in skipped}


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("chart/templates/deployment.yaml", HELM_TEMPLATE, "not valid YAML"),
        ("apps/logo.yaml", BINARY, "binary"),
        ("apps/latin1.yaml", LATIN1, "not UTF-8"),
        ("apps/tab-indented.yaml", TAB_INDENTED, "not valid YAML"),
    ],
)
def test_a_bad_file_mentioning_the_policy_is_skipped_and_reported_and_the_rollback_goes_on(
    repo: Path, name: str, content: str | bytes, reason: str
) -> None:
    bad = write(repo, name, content)
    before = bad.read_bytes()
    skipped: list[SkippedFile] = []
    changed = apply_intent(repo, intent(), skipped=skipped)
    assert repo / "apps/deployment.yaml" in changed
    assert PRIMARY in (repo / "apps/deployment.yaml").read_text()
    assert "!= 2.0.0" in (repo / "flux-system/policy.yaml").read_text()
    assert bad.read_bytes() == before
    assert reason in reasons(skipped, repo)[name]


def test_an_unrelated_broken_file_is_not_parsed_at_all(repo: Path) -> None:
    """A broken file that marks another policy, and does not hold the failed image, is never a
    candidate: the policy filter runs on the bytes, before any parse."""
    write(repo, "other/broken.yaml", 'a: [unclosed # {"$imagepolicy": "flux-system:other"}\nb: : :\n')
    skipped: list[SkippedFile] = []
    assert policies_pointing_at(repo, FAILED, skipped=skipped) == ["flux-system:app"]
    assert skipped == []
    skipped = []
    assert revert_image_policy(repo, "flux-system:app", PRIMARY, skipped=skipped) == [
        repo / "apps/deployment.yaml"
    ]
    assert skipped == []


def test_find_markers_reports_instead_of_raising(repo: Path) -> None:
    write(repo, "broken.yaml", 'a: [unclosed\nimage: x:1 # {"$imagepolicy": "flux-system:app"}\n')
    skipped: list[SkippedFile] = []
    assert [m.path for m in find_markers(repo, skipped=skipped)] == [repo / "apps/deployment.yaml"]
    assert list(reasons(skipped, repo)) == ["broken.yaml"]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            'image:\tghcr.io/acme/app:2.0.0 # {"$imagepolicy": "flux-system:app"}',
            'image:\tghcr.io/acme/app:1.0.0 # {"$imagepolicy": "flux-system:app"}',
        ),
        (
            'image: ghcr.io/acme/app:2.0.0\t# {"$imagepolicy": "flux-system:app"}',
            'image: ghcr.io/acme/app:1.0.0\t# {"$imagepolicy": "flux-system:app"}',
        ),
        (
            'image: ghcr.io/acme/app:2.0.0 # {"$imagepolicy": "flux-system:app"}\t',
            'image: ghcr.io/acme/app:1.0.0 # {"$imagepolicy": "flux-system:app"}\t',
        ),
        (
            'name: a\tb\nimage: "ghcr.io/acme/app:2.0.0"\t# {"$imagepolicy":\t"flux-system:app"}',
            'name: a\tb\nimage: "ghcr.io/acme/app:1.0.0"\t# {"$imagepolicy":\t"flux-system:app"}',
        ),
    ],
)
def test_tabs_as_whitespace_are_accepted_as_flux_accepts_them(
    tmp_path: Path, line: str, expected: str
) -> None:
    path = write(tmp_path, "app.yaml", line + "\n")
    assert revert_image_policy(tmp_path, "flux-system:app", PRIMARY) == [path]
    assert path.read_text() == expected + "\n"


def test_a_file_named_kustomization_is_scanned_as_flux_does(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "apps/Kustomization",
        'images:\n  - name: app\n    newTag: 2.0.0 # {"$imagepolicy": "flux-system:app:tag"}\n',
    )
    write(tmp_path, "apps/Kustomization.txt", 'x: 2.0.0 # {"$imagepolicy": "flux-system:app:tag"}\n')
    assert policies_pointing_at(tmp_path, FAILED) == ["flux-system:app"]
    assert revert_image_policy(tmp_path, "flux-system:app", PRIMARY) == [path]
    assert "newTag: 1.0.0 #" in path.read_text()


def test_a_digest_marker_for_an_image_without_digest_is_emptied_as_flux_does(tmp_path: Path) -> None:
    digest = "sha256:" + "ab" * 32
    path = write(
        tmp_path,
        "kustomization.yaml",
        f'images:\n  - name: app\n    newDigest: {digest} # {{"$imagepolicy": "flux-system:app:digest"}}\n',
    )
    assert revert_image_policy(tmp_path, "flux-system:app", PRIMARY) == [path]
    assert 'newDigest: "" # ' in path.read_text()
    text = path.read_text()
    assert set_image(text, find_markers(path), PRIMARY) == text
