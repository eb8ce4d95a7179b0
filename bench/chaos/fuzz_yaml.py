"""Fuzz YAML files through the marker scan and the marker edit.

Inputs are the marker corpus (tests/unit/gitops/corpus) and generated manifests, mutated:
inserted marker lines (valid, malformed, both kinds, flow style, quoted), anchors and aliases,
document separators, tabs, CRLF or mixed line ends, a BOM, huge scalars, deleted and duplicated
lines; the file target also gets binary bytes and invalid UTF-8.

Targets:

- ``marker_scan``: ``scan_text``. Only ``MarkerFileError`` may escape, with a readable message;
  every marker found points at a real token (1-based line and column inside the text).
- ``marker_edit``: ``set_image`` on every marker found. Only ``MarkerFileError`` and
  ``ImageReferenceError`` may escape (readable). Invariants: every byte outside the marked scalar
  tokens is unchanged; a new scan finds the same markers holding the new values; the edited text
  still loads with PyYAML when the original did; a second edit changes nothing.
- ``marker_files``: ``revert_image_policy`` and ``pin_canary_image`` on a directory holding the
  file as bytes. Nothing escapes; every skipped file has a readable reason; a changed file differs
  from the original only inside marker tokens.

Run: ``.venv/bin/python bench/chaos/fuzz_yaml.py --smoke`` (CI), or ``--cases 10000``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fuzz_support import Target, Violation, main, require_readable

from controller.gitops.edits import markers as marker_module
from controller.gitops.edits.markers import (
    ImageReferenceError,
    MarkerFileError,
    parse_image,
    pin_canary_image,
    revert_image_policy,
    scan_text,
    set_image,
)
from controller.gitops.edits.worktree_files import SkippedFile

CORPUS = Path(__file__).resolve().parents[2] / "tests" / "unit" / "gitops" / "corpus"
SEEDS = [path.read_text(encoding="utf-8") for path in sorted(CORPUS.glob("*.y*ml"))] + [
    "",
    'image: a:1 # {"$imagepolicy": "ns:app"}\n',
]
POLICY, CANARY = "ns:app", "ns:app"
IMAGES = [
    "ghcr.io/acme/app:2.0.0",
    "ghcr.io/acme/app:2.0.0@sha256:" + "a" * 64,
    "registry.local:5000/team/app:v1",
    "app",
    "ghcr.io/acme/app@sha256:" + "b" * 64,
    "ghcr.io/acme/app:" + "9" * 128,
    "a:'quoted'",
    "ghcr.io/acme/app:1.0#x",
]
MARKERS = [
    '# {"$imagepolicy": "ns:app"}',
    '# {"$imagepolicy": "ns:app:tag"}',
    '# {"$imagepolicy": "ns:app:name"}',
    '# {"$imagepolicy": "ns:app:digest"}',
    '# {"$gitcanary": "ns:app"}',
    '# {"$gitcanary": "ns:app:tag"}',
    '# {"$imagepolicy": "ns:app", "$gitcanary": "ns:app"}',
    '# {"$imagepolicy": "ns:app:tag", "$gitcanary": "ns:app"}',
    '## {"$imagepolicy":"ns:app"}',
    '# {"$imagepolicy": "ns:app:bogus"}',
    '# {"$imagepolicy": 1}',
    '# {"$imagepolicy": "ns:app"',
    '# {"$imagepolicy": "\\u006es:app"}',
    '#{"$imagepolicy": "ns:app"}',
]
VALUES = [
    "ghcr.io/acme/app:1.0.0",
    '"ghcr.io/acme/app:1.0.0"',
    "'ghcr.io/acme/app:1.0.0'",
    "1.0.0",
    '"1.0"',
    "&img ghcr.io/acme/app:1.0.0",
    "!!str 1.0.0",
    "*img",
    "",
    "~",
    "|",
    "{a: b}",
    "[x, y]",
    "x" * 5000,
    "yes",
    "0x1F",
    "null",
    "'it''s'",
    '"\\u00e9\\t"',
]
KEYS = ["image", "newTag", "tag", "digest", "newName", "- image", "  - name: x\n    image", "? image\n:"]
SNIPPETS = [
    "---",
    "...",
    "--- !!map",
    "%YAML 1.1\n---",
    "a: &anchor {k: v}",
    "b: *anchor",
    "<<: *anchor",
    "\t",
    "# comment",
    "list: [a, b, {image: x}]",
    "block: |\n  line",
    "folded: >-\n  text",
    "flow: {image: ghcr.io/a/b:1 }",
]


def _line(draw: st.DrawFn) -> str:
    key = draw(st.sampled_from(KEYS))
    value = draw(st.sampled_from(VALUES))
    marker = draw(st.sampled_from(MARKERS))
    gap = draw(st.sampled_from([" ", "  ", "\t", " \t", ""]))
    indent = draw(st.sampled_from(["", "  ", "    ", "\t"]))
    if draw(st.integers(0, 9)) == 0:
        return f"{indent}flow: {{{key.strip('- ')}: {value}{gap}{marker}\n}}"
    return f"{indent}{key}: {value}{gap}{marker}"


@st.composite
def yaml_texts(draw: st.DrawFn) -> str:
    lines = draw(st.sampled_from(SEEDS)).splitlines()
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2, 3, 6]))):
        action = draw(st.integers(0, 9))
        at = draw(st.integers(0, len(lines)))
        if action <= 3:
            lines.insert(at, _line(draw))
        elif action <= 5:
            lines.insert(at, draw(st.sampled_from(SNIPPETS)))
        elif action == 6 and lines:
            del lines[at % len(lines)]
        elif action == 7 and lines:
            lines.insert(at, lines[at % len(lines)])
        elif action == 8 and lines:
            index = at % len(lines)
            lines[index] = lines[index].replace("  ", "\t", 1)
        elif lines:
            index = at % len(lines)
            lines[index] = lines[index].replace("1.", "1" * draw(st.integers(1, 100_000)) + ".", 1)
    newline = draw(st.sampled_from(["\n", "\n", "\r\n", "\r"]))
    text = newline.join(lines) + draw(st.sampled_from([newline, "", "\n"]))
    if draw(st.integers(0, 7)) == 0:
        text = "\ufeff" + text
    if draw(st.integers(0, 7)) == 0 and text:
        cut = draw(st.integers(0, len(text)))
        text = text[:cut]
    return text


@st.composite
def yaml_bytes(draw: st.DrawFn) -> bytes:
    data = draw(yaml_texts()).encode("utf-8")
    if draw(st.integers(0, 4)) == 0:
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
    if draw(st.integers(0, 9)) == 0:
        data = data.decode("utf-8", errors="ignore").encode(
            draw(st.sampled_from(["utf-16", "latin-1"])), "ignore"
        )
    return data


def _spans(text: str) -> list[tuple[int, int]]:
    """The (start, end) of every marked token, in text order."""
    located = marker_module._locate(text, Path("f.yaml"))
    return sorted({(item.span.start, item.span.end) for item in located})


def _scan(text: str) -> list[marker_module.Marker] | None:
    try:
        found = scan_text(text, Path("f.yaml"))
    except MarkerFileError as error:
        require_readable("scan_text", str(error))
        return None
    return found


def check_scan(text: str) -> None:
    found = _scan(text)
    lines = text.splitlines() or [""]
    for marker in found or []:
        if not (1 <= marker.line <= len(text.splitlines(keepends=True)) + 1 and marker.column >= 1):
            raise Violation("marker-position", f"line {marker.line} column {marker.column} of {len(lines)}")
        if not isinstance(marker.current_value, str):
            raise Violation("marker-value", repr(marker.current_value))


def only_tokens_changed(before: str, after: str) -> str | None:
    """Why ``after`` differs from ``before`` outside marked tokens (None when it does not)."""
    old, new = _spans(before), _spans(after)
    if len(old) != len(new):
        return f"{len(old)} marked tokens before the edit, {len(new)} after"
    cursor_old = cursor_new = 0
    for (start_old, end_old), (start_new, end_new) in [
        *zip(old, new, strict=True),
        ((len(before),) * 2, (len(after),) * 2),
    ]:
        if before[cursor_old:start_old] != after[cursor_new:start_new]:
            return f"bytes changed outside the marked tokens near offset {cursor_old}"
        cursor_old, cursor_new = end_old, end_new
    return None


def _loads(text: str) -> list[Any] | None:
    try:
        return list(yaml.safe_load_all(text))
    except (yaml.YAMLError, RecursionError, ValueError, TypeError, OverflowError):
        return None


def check_edit(case: tuple[str, str]) -> None:
    text, image = case
    found = _scan(text)
    if not found:
        return
    try:
        edited = set_image(text, found, image)
    except (MarkerFileError, ImageReferenceError) as error:
        require_readable("set_image", str(error))
        return
    reason = only_tokens_changed(text, edited)
    if reason is not None:
        raise Violation("edit-only-target-scalar", reason)
    after = _scan(edited)
    if after is None or len(after) != len(found):
        raise Violation("edit-rescan", f"{len(found)} markers before, {after and len(after)} after")
    reference = parse_image(image)
    for marker in after:
        wanted = reference.value_for(marker.field)
        if marker.current_value != wanted and (marker.kind, marker.ref) in {(m.kind, m.ref) for m in found}:
            raise Violation(
                "edit-value", f"{marker.setter} holds {marker.current_value!r}, wanted {wanted!r}"
            )
    if _loads(text) is not None and _loads(edited) is None:
        raise Violation("edit-still-yaml", "the edited text no longer loads with PyYAML")
    if set_image(edited, after, image) != edited:
        raise Violation("edit-idempotent", "a second edit changed the text again")


def check_files(case: tuple[bytes, str]) -> None:
    data, image = case
    with tempfile.TemporaryDirectory(prefix="gitcanary-fuzz-yaml-") as scratch:
        root = Path(scratch)
        path = root / "app.yaml"
        path.write_bytes(data)
        skipped: list[SkippedFile] = []
        changed = revert_image_policy(root, POLICY, image, skipped)
        changed += pin_canary_image(root, CANARY, image, skipped)
        for item in skipped:
            require_readable("skipped file", item.reason)
        if changed:
            before, after = data.decode("utf-8"), path.read_bytes().decode("utf-8")
            reason = only_tokens_changed(before, after)
            if reason is not None:
                raise Violation("edit-only-target-scalar", reason)


EDIT_IMAGES = st.sampled_from(IMAGES)
TARGETS = [
    Target("marker_scan", yaml_texts(), check_scan, smoke_cases=200),
    Target("marker_edit", st.tuples(yaml_texts(), EDIT_IMAGES), check_edit, smoke_cases=200),
    Target("marker_files", st.tuples(yaml_bytes(), EDIT_IMAGES), check_files, smoke_cases=120),
]

if __name__ == "__main__":
    sys.exit(main("yaml", TARGETS))
