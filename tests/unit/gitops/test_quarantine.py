"""Quarantine: semver ranges and ImageRepository exclusion lists edited with minimal diffs."""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.gitops.edits.quarantine import (
    DEFAULT_EXCLUSION,
    MAX_EXCLUSIONS,
    QuarantineError,
    quarantine_tag,
    tag_exclusion,
)
from controller.gitops.edits.semver_range import satisfies

SEMVER_POLICY = """\
# podinfo policy
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImagePolicy
metadata:
  name: podinfo
  namespace: flux-system
spec:
  imageRepositoryRef:
    name: podinfo
  policy:
    semver:
      range: '>=6.0.0 <7.0.0 || ~5.1' # allowed releases

  # trailing comment
"""

ALPHA_POLICY = """\
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata:
  name: app
spec:
  imageRepositoryRef:
    name: app-repo
    namespace: registry
  filterTags:
    pattern: '^main-[a-f0-9]+-(?P<ts>[0-9]+)'
    extract: '$ts'
  policy:
    numerical:
      order: asc
"""


def _repository(spec_tail: str, name: str = "app-repo", namespace: str = "registry") -> str:
    return (
        "apiVersion: image.toolkit.fluxcd.io/v1\n"
        "kind: ImageRepository\n"
        "metadata:\n"
        f"  name: {name}\n"
        f"  namespace: {namespace}\n"
        "spec:\n"
        "  # where the tags come from\n"
        "  image: ghcr.io/acme/app\n"
        "  interval: 5m\n" + spec_tail
    )


def _write(path: Path, text: str, newline: str = "\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.replace("\n", newline).encode())
    return path


def _changed_regions(old: str, new: str) -> list[tuple[str, int, int, int, int]]:
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    return [op for op in matcher.get_opcodes() if op[0] != "equal"]


def _inserted_lines(old: str, new: str) -> list[str]:
    """The lines inserted into ``old`` to make ``new``, asserting nothing else changed."""
    before, after = old.splitlines(keepends=True), new.splitlines(keepends=True)
    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    opcodes = matcher.get_opcodes()
    assert all(op[0] in ("equal", "insert") for op in opcodes), opcodes
    return [line for op in opcodes if op[0] == "insert" for line in after[op[3] : op[4]]]


def _exclusions(path: Path, doc_index: int = 0) -> Any:
    return list(yaml.safe_load_all(path.read_text()))[doc_index]["spec"]["exclusionList"]


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_semver_range_is_spliced_in_place(tmp_path: Path, newline: str) -> None:
    path = _write(tmp_path / "policy.yaml", SEMVER_POLICY, newline)
    old = path.read_bytes().decode()
    assert quarantine_tag(tmp_path, "flux-system:podinfo", "6.0.2") == [path]
    new = path.read_bytes().decode()
    expected_range = ">=6.0.0 <7.0.0, != 6.0.2 || ~5.1, != 6.0.2"
    assert new == old.replace("'>=6.0.0 <7.0.0 || ~5.1'", f"'{expected_range}'")
    assert yaml.safe_load(new)["spec"]["policy"]["semver"]["range"] == expected_range
    for _, i1, i2, _, _ in _changed_regions(old, new):
        assert old.index("'>=6") <= i1 <= i2 <= old.index(" # allowed")
    assert not satisfies(expected_range, "6.0.2") and satisfies(expected_range, "6.0.3")
    assert quarantine_tag(tmp_path, "flux-system:podinfo", "6.0.2") == []
    assert path.read_bytes().decode() == new


def test_semver_policy_without_namespace_matches_and_bad_tags_are_reported(tmp_path: Path) -> None:
    text = SEMVER_POLICY.replace("  namespace: flux-system\n", "")
    path = _write(tmp_path / "apps" / "policy.yml", text)
    assert quarantine_tag(tmp_path, "anything:podinfo", "v6.1.0") == [path]
    assert "!= 6.1.0" in path.read_text()
    with pytest.raises(QuarantineError, match="cannot exclude 'latest'"):
        quarantine_tag(tmp_path, "anything:podinfo", "latest")


def test_missing_exclusion_list_is_created_with_the_default_first(tmp_path: Path) -> None:
    _write(tmp_path / "policy.yaml", ALPHA_POLICY)
    repo = _write(tmp_path / "repo.yaml", _repository("  provider: generic\n"))
    old = repo.read_text()
    assert quarantine_tag(tmp_path, "flux:app", "main-abc123-42") == [repo]
    new = repo.read_text()
    assert _exclusions(repo) == [DEFAULT_EXCLUSION, tag_exclusion("main-abc123-42")]
    assert _inserted_lines(old, new) == [
        "  exclusionList:\n",
        "    - '^.*\\.sig$'\n",
        "    - '^main\\-abc123\\-42$'\n",
    ]
    assert new.index("exclusionList:") < new.index("# where the tags come from")
    assert quarantine_tag(tmp_path, "flux:app", "main-abc123-42") == []
    assert quarantine_tag(tmp_path, "flux:app", "main-def456-43") == [repo]
    assert _exclusions(repo)[-1] == tag_exclusion("main-def456-43")


def test_block_list_gets_one_line_in_its_own_style(tmp_path: Path) -> None:
    _write(tmp_path / "policy.yaml", ALPHA_POLICY)
    tail = '  exclusionList:\n      -   "^.*\\\\.sig$" # signatures\n  # after the list\n'
    repo = _write(tmp_path / "repo.yaml", _repository(tail), "\r\n")
    old = repo.read_bytes().decode()
    assert quarantine_tag(tmp_path, "flux:app", "1.2.3-rc.1") == [repo]
    new = repo.read_bytes().decode()
    assert _inserted_lines(old, new) == ['      -   "^1\\\\.2\\\\.3\\\\-rc\\\\.1$"\r\n']
    assert _exclusions(repo) == [DEFAULT_EXCLUSION, tag_exclusion("1.2.3-rc.1")]


def test_block_list_at_end_of_file_without_newline(tmp_path: Path) -> None:
    _write(tmp_path / "policy.yaml", ALPHA_POLICY)
    repo = _write(tmp_path / "repo.yaml", _repository("  exclusionList:\n  - ^.*\\.sig$"))
    assert quarantine_tag(tmp_path, "flux:app", "abc") == [repo]
    assert repo.read_text().endswith("  - ^.*\\.sig$\n  - ^abc$")
    assert _exclusions(repo) == [DEFAULT_EXCLUSION, "^abc$"]


@pytest.mark.parametrize(
    ("flow", "expected"),
    [
        ("[]", "['^x\\-1$']"),
        ('["^.*\\\\.sig$"]', '["^.*\\\\.sig$", "^x\\\\-1$"]'),
        ("[\n    '^a$',\n    '^b$',\n  ]", "[\n    '^a$',\n    '^b$', '^x\\-1$',\n  ]"),
    ],
)
def test_flow_list_gets_an_item(tmp_path: Path, flow: str, expected: str) -> None:
    _write(tmp_path / "policy.yaml", ALPHA_POLICY)
    repo = _write(tmp_path / "repo.yaml", _repository(f"  exclusionList: {flow}\n"))
    old = repo.read_text()
    assert quarantine_tag(tmp_path, "flux:app", "x-1") == [repo]
    assert repo.read_text() == old.replace(flow, expected)
    assert _exclusions(repo)[-1] == "^x\\-1$"


def test_repository_in_same_multi_doc_file_and_flow_spec(tmp_path: Path) -> None:
    repo_doc = _repository("").replace(
        "spec:\n  # where the tags come from\n  image: ghcr.io/acme/app\n  interval: 5m\n",
        "spec: {image: ghcr.io/acme/app, interval: 5m}\n",
    )
    path = _write(tmp_path / "all.yaml", ALPHA_POLICY + "---\n" + repo_doc)
    assert quarantine_tag(tmp_path, "flux:app", "7") == [path]
    assert "spec: {exclusionList: ['^.*\\.sig$', '^7$'], image: ghcr.io/acme/app" in path.read_text()
    assert _exclusions(path, 1) == [DEFAULT_EXCLUSION, "^7$"]


def test_regex_matches_exactly_the_tag() -> None:
    regex = tag_exclusion("1.2.3")
    assert re.search(regex, "1.2.3")
    for other in ("1.2.34", "01.2.3", "1x2.3", "1.2.3.sig"):
        assert not re.search(regex, other)


def test_not_found_and_unsupported_layouts_raise(tmp_path: Path) -> None:
    with pytest.raises(QuarantineError, match="ImagePolicy flux:app not found"):
        quarantine_tag(tmp_path, "flux:app", "1")
    _write(tmp_path / "policy.yaml", ALPHA_POLICY)
    with pytest.raises(QuarantineError, match=r"ImageRepository registry:app-repo .* not found"):
        quarantine_tag(tmp_path, "flux:app", "1")
    _write(tmp_path / "other-ns.yaml", _repository("", namespace="elsewhere"))
    with pytest.raises(QuarantineError, match="not found"):
        quarantine_tag(tmp_path, "flux:app", "1")
    full = "".join(f"  - '^t{i}$'\n" for i in range(MAX_EXCLUSIONS))
    _write(tmp_path / "repo.yaml", _repository("  exclusionList:\n" + full))
    with pytest.raises(QuarantineError, match="maximum"):
        quarantine_tag(tmp_path, "flux:app", "1")
    with pytest.raises(ValueError, match="namespace"):
        quarantine_tag(tmp_path, "app", "1")


def test_wrong_policy_namespace_does_not_match(tmp_path: Path) -> None:
    _write(tmp_path / "policy.yaml", SEMVER_POLICY)
    with pytest.raises(QuarantineError, match="not found"):
        quarantine_tag(tmp_path, "other:podinfo", "6.0.2")
