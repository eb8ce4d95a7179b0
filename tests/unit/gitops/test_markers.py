"""Markers: detection, image splitting, minimal-diff edits over a corpus of real manifests."""

from __future__ import annotations

import difflib
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.gitops.edits.markers import (
    ImageReferenceError,
    Marker,
    MarkerFileError,
    find_markers,
    parse_image,
    parse_marker_comment,
    pin_canary_image,
    revert_image_policy,
    scan_text,
    set_image,
)
from controller.gitops.edits.worktree_files import SkippedFile

CORPUS = Path(__file__).parent / "corpus"
DIGEST = "sha256:" + "9f" * 32
# A tag that would load as a float if written plain: forces the quoting fallback.
IMAGES = (
    f"registry.example.com:5000/team/new-app:9.9.9@{DIGEST}",
    f"ghcr.io/acme/renamed:1.10@{DIGEST}",
)


def _corpus_files() -> list[Path]:
    return sorted(p for p in CORPUS.iterdir() if p.suffix in (".yaml", ".yml"))


def _corpus_markers() -> list[Marker]:
    return find_markers(CORPUS)


def _offset(text: str, line: int, column: int) -> int:
    lines = text.split("\n")
    return sum(len(chunk) + 1 for chunk in lines[: line - 1]) + column - 1


def _token(value: str, text: str, start: int) -> str:
    """The scalar token for ``value`` at ``start``, read with the test's own rules."""
    quote = text[start]
    return f"{quote}{value}{quote}" if quote in "'\"" else value


def _load(text: str, doc_index: int) -> Any:
    return list(yaml.safe_load_all(text))[doc_index]


def _at(document: Any, path: tuple[str | int, ...]) -> Any:
    node = document
    for step in path:
        node = node[step] if isinstance(step, int) else next(v for k, v in node.items() if str(k) == step)
    return node


def _expected(marker: Marker, image: str) -> str:
    ref = parse_image(image)
    return ref.value_for(marker.field)


def _assert_minimal_edit(old: str, new: str, marker: Marker, value: str) -> None:
    start = _offset(old, marker.line, marker.column)
    old_token = _token(marker.current_value, old, start)
    assert old[start : start + len(old_token)] == old_token
    grown = len(new) - len(old)
    new_token = new[start : start + len(old_token) + grown]
    # Bytes outside the token are untouched.
    assert new == old[:start] + new_token + old[start + len(old_token) :]
    # The new token is a scalar holding exactly the new value.
    assert yaml.safe_load(new_token) == value
    # A character diff agrees: every changed region lies inside the token.
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    changed = [op for op in matcher.get_opcodes() if op[0] != "equal"]
    assert changed, "the edit changed nothing"
    for _, i1, i2, j1, j2 in changed:
        assert start <= i1 <= i2 <= start + len(old_token)
        assert start <= j1 <= j2 <= start + len(new_token)


def test_corpus_is_large_and_every_file_has_a_marker() -> None:
    files = _corpus_files()
    assert len(files) >= 30
    marked = {m.path for m in _corpus_markers()}
    assert [f for f in files if f not in marked] == []


@pytest.mark.parametrize("image", IMAGES)
def test_every_corpus_marker_edits_only_its_scalar(image: str) -> None:
    markers = _corpus_markers()
    assert len(markers) >= 50
    edited = 0
    for marker in markers:
        old = marker.path.read_bytes().decode("utf-8")
        value = _expected(marker, image)
        new = set_image(old, [marker], image)
        if value == marker.current_value:
            assert new == old
            continue
        edited += 1
        # (a) a plain YAML load reads the new value back
        assert str(_at(_load(new, marker.doc_index), marker.node_path)) == value, marker
        # (b) only the scalar changed
        _assert_minimal_edit(old, new, marker, value)
        # (c) re-applying changes nothing
        again = [
            m for m in scan_text(new, marker.path) if m.setter == marker.setter and m.line == marker.line
        ]
        assert len(again) == 1 and again[0].current_value == value
        assert set_image(new, again, image) == new
    assert edited >= len(markers) - 1


def test_corpus_tree_edits_are_idempotent_and_keep_encoding(tmp_path: Path) -> None:
    tree = tmp_path / "repo"
    shutil.copytree(CORPUS, tree)
    before = {p.name: p.read_bytes() for p in tree.iterdir()}
    image = IMAGES[1]
    refs = {(m.kind, m.ref) for m in find_markers(tree)}
    changed: set[str] = set()
    for kind, ref in sorted(refs):
        edit = revert_image_policy if kind == "imagepolicy" else pin_canary_image
        changed.update(p.name for p in edit(tree, ref, image))
        assert edit(tree, ref, image) == []
    assert changed == set(before)
    for marker in find_markers(tree):
        assert marker.current_value == _expected(marker, image)
    for path in tree.iterdir():
        old, new = before[path.name], path.read_bytes()
        assert old.startswith(b"\xef\xbb\xbf") == new.startswith(b"\xef\xbb\xbf")
        assert old.count(b"\r\n") == new.count(b"\r\n")
        assert old.count(b"\n") == new.count(b"\n")
        assert old.endswith(b"\n") == new.endswith(b"\n")


def test_parse_marker_comment_follows_flux_grammar() -> None:
    assert parse_marker_comment('# {"$imagepolicy": "flux-system:podinfo"}') == [
        ("imagepolicy", "flux-system:podinfo", "image")
    ]
    assert parse_marker_comment('##{ "$imagepolicy" :"ns:p:tag" }') == [("imagepolicy", "ns:p", "tag")]
    assert parse_marker_comment('#\t{"$gitcanary": "ns:c:digest"}') == [("gitcanary", "ns:c", "digest")]
    assert parse_marker_comment('# {"$imagepolicy": "a:b:name", "$gitcanary": "c:d"}') == [
        ("imagepolicy", "a:b", "name"),
        ("gitcanary", "c:d", "image"),
    ]
    for not_marker in (
        '# {"$imagepolicy": "a:b"} and text',
        '# {"$imagepolicy": a:b}',
        '# {"$imagepolicy": "a:b", "n": 1}',
        '# {"$imagepolicy": "podinfo"}',
        '# {"$imagepolicy": "a:b:version"}',
        '# {"$imagepolicy": ""}',
        '# ["$imagepolicy", "a:b"]',
        "# plain comment",
    ):
        assert parse_marker_comment(not_marker) == [], not_marker


def test_parse_image_splits_name_tag_and_digest() -> None:
    ref = parse_image("localhost:5000/team/app:1.2.3@" + DIGEST)
    assert (ref.name, ref.tag, ref.digest) == ("localhost:5000/team/app", "1.2.3", DIGEST)
    ref = parse_image("localhost:5000/team/app")
    assert (ref.name, ref.tag, ref.digest) == ("localhost:5000/team/app", None, None)
    ref = parse_image("nginx@" + DIGEST)
    assert (ref.name, ref.tag, ref.digest) == ("nginx", None, DIGEST)
    with pytest.raises(ImageReferenceError, match="no tag"):
        ref.value_for("tag")
    assert parse_image("nginx:1").value_for("digest") == ""  # as Flux writes it
    for bad in ("", "nginx:", "nginx@sha256:zz", "a b:1", "/x:1"):
        with pytest.raises(ImageReferenceError):
            parse_image(bad)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode())
    return path


GOOD = 'image: ghcr.io/a/app:1.0.0 # {"$imagepolicy": "ns:app"}\n'
BROKEN_OTHER = 'image: [unclosed # {"$imagepolicy": "ns:other"}\nfoo: : :\n'
BROKEN_SAME = 'a: [unclosed\nimage: x:1 # {"$imagepolicy": "ns:app"}\n'


def test_broken_file_is_skipped_and_reported_never_raised(tmp_path: Path) -> None:
    good = _write(tmp_path / "good.yaml", GOOD)
    _write(tmp_path / "broken.yaml", BROKEN_OTHER)
    skipped: list[SkippedFile] = []
    assert revert_image_policy(tmp_path, "ns:app", "ghcr.io/a/app:0.9.0", skipped) == [good]
    assert "ghcr.io/a/app:0.9.0 #" in good.read_text()
    assert skipped == []  # about another policy: never parsed
    assert revert_image_policy(tmp_path, "ns:other", "ghcr.io/a/app:0.9.0", skipped) == []
    assert [(s.path, s.reason.split(":")[0]) for s in skipped] == [
        (tmp_path / "broken.yaml", "not valid YAML")
    ]
    skipped = []
    assert [m.path for m in find_markers(tmp_path, skipped=skipped)] == [good]
    assert [s.path for s in skipped] == [tmp_path / "broken.yaml"]


def test_broken_concerned_file_does_not_block_the_others(tmp_path: Path) -> None:
    good = _write(tmp_path / "a.yaml", GOOD)
    broken = _write(tmp_path / "b.yaml", BROKEN_SAME)
    skipped: list[SkippedFile] = []
    assert revert_image_policy(tmp_path, "ns:app", "ghcr.io/a/app:0.9.0", skipped) == [good]
    assert broken.read_text() == BROKEN_SAME
    assert [s.path for s in skipped] == [broken]


def test_only_marked_yaml_files_are_read_and_git_is_skipped(tmp_path: Path) -> None:
    _write(tmp_path / "plain-broken.yaml", "a: [unclosed\n")
    _write(tmp_path / "notes.txt", GOOD)
    _write(tmp_path / ".git" / "x.yaml", GOOD)
    nested = _write(tmp_path / "apps" / "deep" / "app.yml", GOOD)
    markers = find_markers(tmp_path)
    assert [m.path for m in markers] == [nested]
    assert find_markers(tmp_path, kind="gitcanary") == []
    assert find_markers(tmp_path, ref="ns:other") == []
    assert find_markers(nested, kind="imagepolicy", ref="ns:app")[0].line == 1
    with pytest.raises(ValueError, match="namespace"):
        find_markers(tmp_path, ref="app")


def test_unchanged_files_are_not_rewritten(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.yaml", GOOD)
    os.utime(path, (1_000_000, 1_000_000))
    assert revert_image_policy(tmp_path, "ns:app", "ghcr.io/a/app:1.0.0") == []
    assert path.stat().st_mtime == 1_000_000


@pytest.mark.parametrize(
    ("line", "value", "expected"),
    [
        ('tag: 1.0 # {"$imagepolicy": "n:p:tag"}', "2.0", 'tag: "2.0" # {"$imagepolicy": "n:p:tag"}'),
        ('tag: v1 # {"$imagepolicy": "n:p:tag"}', "v2", 'tag: v2 # {"$imagepolicy": "n:p:tag"}'),
        ('tag: \'v1\' # {"$imagepolicy": "n:p:tag"}', "yes", 'tag: \'yes\' # {"$imagepolicy": "n:p:tag"}'),
        ('tag: "v1" # {"$imagepolicy": "n:p:tag"}', "true", 'tag: "true" # {"$imagepolicy": "n:p:tag"}'),
        ('tag: v1 # {"$imagepolicy": "n:p:tag"}', "null", 'tag: "null" # {"$imagepolicy": "n:p:tag"}'),
    ],
)
def test_quoting_is_kept_or_added_when_the_value_needs_it(line: str, value: str, expected: str) -> None:
    path = Path("x.yaml")
    markers = scan_text(line + "\n", path)
    new = set_image(line + "\n", markers, f"repo:{value}")
    assert new == expected + "\n"
    assert yaml.safe_load(new)["tag"] == value


def test_flow_scalars_get_quoted_when_they_hold_flow_indicators() -> None:
    text = 'x: {tag: v1, # {"$imagepolicy": "n:p:tag"}\n  o: 1}\n'
    new = set_image(text, scan_text(text, Path("f.yaml")), "repo:a,b")
    assert new == 'x: {tag: "a,b", # {"$imagepolicy": "n:p:tag"}\n  o: 1}\n'
    assert yaml.safe_load(new) == {"x": {"tag": "a,b", "o": 1}}


def test_stale_markers_are_refused() -> None:
    text = GOOD
    markers = scan_text(text, Path("a.yaml"))
    with pytest.raises(MarkerFileError, match="not found"):
        set_image("# moved\n" + text, markers, "ghcr.io/a/app:2")


def test_conflicting_markers_on_one_field_are_refused() -> None:
    text = 'image: a:1 # {"$imagepolicy": "n:p", "$gitcanary": "n:c:tag"}\n'
    markers = scan_text(text, Path("a.yaml"))
    assert len(markers) == 2
    with pytest.raises(MarkerFileError, match="different values"):
        set_image(text, markers, "a:2")
    assert set_image(text, markers[:1], "a:2").startswith("image: a:2 #")


def test_ignored_places_are_not_markers() -> None:
    text = (
        'a: |  # {"$imagepolicy": "n:block"}\n  x\n'
        '# {"$imagepolicy": "n:head"}\nb: v\n'
        'c: &x v1 # {"$imagepolicy": "n:anchor"}\n'
        'd: *x # {"$imagepolicy": "n:alias"}\n'
        'e: [x, y] # {"$imagepolicy": "n:seq"}\n'
    )
    assert [m.setter for m in scan_text(text, Path("a.yaml"))] == ["n:anchor"]
