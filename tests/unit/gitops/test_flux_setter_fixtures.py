"""image-automation-controller's own setter fixtures as the oracle for our marker editor.

The fixtures are read at test time from the published Go module, at the version the sandbox
builds (``sandbox/gitcanary_sandbox/flux_binaries.py``), downloaded with ``go mod download`` into the Go
module cache. The module's h1 sum must equal :data:`MODULE_SUM` (and the files read are hashed
again, so a modified cache is caught too).

Each case is one policy set of the module's Go tests (``internal/update/update_test.go``
``TestUpdateWithSetters`` and ``internal/policy/applier_test.go`` ``Test_applyPolicies``): the
input tree is copied, every policy of the set is applied with :func:`revert_image_policy` (the
function that sets ``$imagepolicy`` markers for rollbacks), and the result must be
byte-identical to the expected tree, except for the rows of :data:`EXPECTED_DIFFERENCES`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from controller.gitops.edits.markers import revert_image_policy
from controller.gitops.edits.worktree_files import SkippedFile
from gitcanary_sandbox.flux_binaries import CONTROLLERS

MODULE = "github.com/fluxcd/image-automation-controller"
VERSION = "v1.2.0"
MODULE_SUM = "h1:Buso7CwZmTdk6OJmlYYCDeQNYVIuSQ764UwHpjf2/fM="
DIGEST = "sha256:6745aaad46d795c9836632e1fb62f24b7e7f4c843144da8e47a5465c411a14be"


@dataclass(frozen=True)
class PolicySet:
    """One policy set of a Go test: where its fixtures are and what it applies."""

    go_test: str  # "<file>:<test> / <subtest>", as named in the module
    original: str  # fixture directory (relative to the module root)
    expected: str
    policies: Mapping[str, str]  # "<namespace>:<name>" -> latest image
    target: str | None = None  # policy written over "SETTER_SITE" (testutil.ReplaceMarker)
    update_path: str = "."  # spec.update.path
    only_changed_files: bool = False  # expected holds only the files written (UpdateWithSetters)
    marker_files: tuple[str, ...] = field(default=("deploy.yaml",))


POLICY_SETS: dict[str, PolicySet] = {
    "update-with-setters": PolicySet(
        go_test="internal/update/update_test.go:TestUpdateWithSetters",
        original="internal/update/testdata/setters/original",
        expected="internal/update/testdata/setters/expected",
        policies={
            "automation-ns:policy": "index.repo.fake/updated:v1.0.1",
            "automation-ns:unchanged": "image:v1.0.0",
            "automation-ns:policy-with-digest": f"image:v1.0.0@{DIGEST}",
        },
        only_changed_files=True,
    ),
    "applier-one-policy": PolicySet(
        go_test="internal/policy/applier_test.go:Test_applyPolicies / valid update strategy and one policy",
        original="internal/policy/testdata/appconfig",
        expected="internal/policy/testdata/appconfig-setters-expected",
        policies={"test-ns:policy1": "helloworld:1.0.1"},
        target="test-ns:policy1",
    ),
    "applier-multiple-policies": PolicySet(
        go_test="internal/policy/applier_test.go:Test_applyPolicies / valid update strategy and multiple policies",
        original="internal/policy/testdata/appconfig",
        expected="internal/policy/testdata/appconfig-setters-expected",
        policies={
            "test-ns:policy1": "foo:1.1.1",
            "test-ns:policy2": "helloworld:1.0.1",
            "test-ns:policy3": "bar:2.2.2",
        },
        target="test-ns:policy2",
    ),
    "applier-update-path": PolicySet(
        go_test="internal/policy/applier_test.go:Test_applyPolicies / valid update strategy with update path",
        original="internal/policy/testdata/pathconfig",
        expected="internal/policy/testdata/pathconfig-expected",
        policies={"test-ns:policy1": "helloworld:1.0.1"},
        target="test-ns:policy1",
        update_path="./yes",
        marker_files=("yes/deploy.yaml", "no/deploy.yaml"),
    ),
}

# Setter fixture directories no policy set above reads, and why (a new directory in a later
# version fails test_every_setter_fixture_is_covered until it is covered or listed here).
NOT_POLICY_SETS = {
    "internal/update/testdata/replace": "no Go test of v1.2.0 reads it (left from the removed "
    "image-replacement strategy); its files have no setter markers",
    "internal/update/testdata/leave": "no Go test of v1.2.0 reads it; no setter markers",
    "internal/policy/testdata/pathconfig": "input of applier-update-path",
    "internal/policy/testdata/pathconfig-expected": "expected of applier-update-path",
    "internal/policy/testdata/appconfig": "input of applier-one-policy and applier-multiple-policies",
    "internal/policy/testdata/appconfig-setters-expected": "expected of the two appconfig sets",
    "internal/update/testdata/setters": "input and expected of update-with-setters",
}

# (policy set, file) -> (bytes in Flux's expected output, bytes in ours). Where our splice
# legitimately differs from kyaml's re-serialisation (e.g. fluxcd/image-automation-controller#844,
# blank lines lost) the difference is stated here; every row must still be observed. For v1.2.0's
# fixtures our output is byte-identical, so the table is empty.
EXPECTED_DIFFERENCES: dict[tuple[str, str], tuple[bytes, bytes]] = {}


def _go_download() -> Mapping[str, str]:
    go = shutil.which("go")
    assert go is not None, "the Go toolchain is required: these fixtures are read from the Go module"
    env = {**os.environ, "GOFLAGS": "-mod=mod", "GO111MODULE": "on"}
    completed = subprocess.run(
        [go, "mod", "download", "-json", f"{MODULE}@{VERSION}"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=Path("/"),
        env=env,
    )
    info: dict[str, str] = json.loads(completed.stdout) if completed.stdout.strip() else {}
    assert completed.returncode == 0 and "Error" not in info, (completed.stderr, info.get("Error"))
    return info


def _dir_hash(root: Path, prefix: str) -> str:
    """Go's ``dirhash.Hash1`` over every file under ``root`` (as ``go.sum`` ``h1:`` sums are)."""
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    summary = "".join(
        f"{hashlib.sha256((root / name).read_bytes()).hexdigest()}  {prefix}/{name}\n" for name in files
    )
    return "h1:" + base64.b64encode(hashlib.sha256(summary.encode()).digest()).decode()


@pytest.fixture(scope="module")
def flux_module() -> Path:
    info = _go_download()
    assert info["Version"] == VERSION
    assert info["Sum"] == MODULE_SUM, f"{MODULE}@{VERSION} has sum {info['Sum']}, pinned {MODULE_SUM}"
    directory = Path(info["Dir"])
    assert _dir_hash(directory, f"{MODULE}@{VERSION}") == MODULE_SUM, "module cache content was modified"
    return directory


def test_the_pinned_module_is_the_one_the_sandbox_builds() -> None:
    (controller,) = [c for c in CONTROLLERS if c.name == "image-automation-controller"]
    assert controller.version == VERSION
    assert f"{MODULE} {VERSION} {MODULE_SUM}" in controller.pinned_sums


def test_every_setter_fixture_is_covered(flux_module: Path) -> None:
    found = {
        (directory.parent.relative_to(flux_module) / directory.name).as_posix()
        for testdata in ("internal/update/testdata", "internal/policy/testdata")
        for directory in (flux_module / testdata).iterdir()
        if directory.is_dir()
    }
    assert found == set(NOT_POLICY_SETS)


def test_policy_sets_are_the_go_tests_own(flux_module: Path) -> None:
    """Every policy name and image of a set is written in the Go test that uses it."""
    for policy_set in POLICY_SETS.values():
        source = (flux_module / policy_set.go_test.split(":")[0]).read_text()
        for ref, image in policy_set.policies.items():
            name = ref.split(":")[1]
            assert f'"{name}"' in source, (policy_set.go_test, name)
            assert f'"{image}"' in source or f'"{image.split("@")[0]}@' in source, (policy_set.go_test, image)
        assert f'"{policy_set.update_path}"' in source or policy_set.update_path == "."


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _replace_marker(root: Path, relative: str, target: str) -> None:
    """testutil.ReplaceMarker: ``SETTER_SITE`` becomes ``{"$imagepolicy": "<ns>:<name>"}``."""
    path = root / relative
    path.write_bytes(path.read_bytes().replace(b"SETTER_SITE", f'{{"$imagepolicy": "{target}"}}'.encode()))


@pytest.mark.parametrize("name", sorted(POLICY_SETS))
def test_our_edit_is_byte_identical_to_flux_expected_output(
    flux_module: Path, tmp_path: Path, name: str
) -> None:
    policy_set = POLICY_SETS[name]
    work, expected_root = tmp_path / "work", tmp_path / "expected"
    shutil.copytree(flux_module / policy_set.original, work)
    shutil.copytree(flux_module / policy_set.expected, expected_root)
    for root in (work, expected_root):
        root.chmod(0o755)
        for path in root.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
    if policy_set.target is not None:
        for relative in policy_set.marker_files:
            _replace_marker(work, relative, policy_set.target)
            _replace_marker(expected_root, relative, policy_set.target)
    original = _files(work)

    skipped: list[SkippedFile] = []
    scope = work / policy_set.update_path
    changed: set[str] = set()
    for ref, image in policy_set.policies.items():
        changed |= {p.relative_to(work).as_posix() for p in revert_image_policy(scope, ref, image, skipped)}
    assert skipped == []

    ours = _files(work)
    expected = _files(expected_root)
    if policy_set.only_changed_files:
        assert changed == set(expected)
        expected = {**original, **expected}
    else:
        assert changed == {f for f in expected if expected[f] != original.get(f)}
    assert set(ours) == set(expected)
    observed: set[tuple[str, str]] = set()
    for relative in sorted(expected):
        difference = EXPECTED_DIFFERENCES.get((name, relative))
        if difference is not None:
            flux_bytes, our_bytes = difference
            assert expected[relative].count(flux_bytes) == 1, (relative, flux_bytes)
            expected[relative] = expected[relative].replace(flux_bytes, our_bytes)
            observed.add((name, relative))
        assert ours[relative] == expected[relative], relative
    assert observed == {key for key in EXPECTED_DIFFERENCES if key[0] == name}
