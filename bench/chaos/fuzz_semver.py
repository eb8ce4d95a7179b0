"""Fuzz semver ranges through quarantine: ``exclude_version`` and ``quarantine_tag``.

Ranges are built from Masterminds grammar pieces (operators, wildcards, partial versions,
prereleases, build metadata, ``,``/space/``||`` joins, hyphen ranges, whitespace runs) and now
and then from raw text; tags are versions, near-versions or text.

Targets:

- ``semver_exclude``: ``exclude_version(range, tag)``. Only ``ConstraintError`` may escape, with
  a readable message. An accepted result parses, no longer admits the tag, admits every other
  drawn version exactly as the range did, and excluding again changes nothing.
- ``quarantine``: ``quarantine_tag`` on an ImagePolicy (semver range in any quoting and layout)
  or an alphabetical policy with its ImageRepository (exclusion list absent, empty, flow or
  block). Only ``QuarantineError`` and ``ValueError`` (an invalid tag) may escape, readable.
  Every file it writes loads with PyYAML (when the original did); the policy's range still parses and excludes the tag,
  or the exclusion list holds ``^<escaped tag>$``, which matches the tag.

Run: ``.venv/bin/python bench/chaos/fuzz_semver.py --smoke`` (CI), or ``--cases 10000``.
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fuzz_support import Target, Violation, main, require_readable

from controller.gitops.edits.quarantine import QuarantineError, quarantine_tag, tag_exclusion
from controller.gitops.edits.semver_range import (
    ConstraintError,
    exclude_version,
    parse_constraint,
    parse_version,
    satisfies,
)

OPERATORS = ["", "=", "!=", ">", "<", ">=", "=>", "<=", "=<", "~", "~>", "^", "==", "!", "=="]
PARTS = ["0", "1", "2", "10", "x", "X", "*", "01", "99999999999999999999"]
SPACES = ["", " ", "  ", "\t", " \n "]


@st.composite
def versions(draw: st.DrawFn, wildcards: bool = True) -> str:
    parts = PARTS if wildcards else ["0", "1", "2", "10", "3"]
    count = draw(st.integers(1, 3)) if wildcards else 3
    text = ".".join(draw(st.sampled_from(parts)) for _ in range(count))
    if draw(st.integers(0, 5)) == 0:
        text = "v" + text
    if draw(st.integers(0, 4)) == 0:
        text += "-" + draw(st.sampled_from(["rc.1", "alpha", "0", "01", "beta.2", "rc-1", ""]))
    if draw(st.integers(0, 6)) == 0:
        text += "+" + draw(st.sampled_from(["build.5", "sha", ""]))
    return text


@st.composite
def ranges(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 12)) == 0:
        return draw(st.text(max_size=30))
    groups = []
    for _ in range(draw(st.integers(1, 3))):
        if draw(st.integers(0, 6)) == 0:
            groups.append(f"{draw(versions())} - {draw(versions())}")
            continue
        items = []
        for _ in range(draw(st.integers(1, 12))):
            items.append(
                draw(st.sampled_from(OPERATORS)) + draw(st.sampled_from(SPACES[:3])) + draw(versions())
            )
        joiners = [draw(st.sampled_from([",", ", ", " ", "  ", "   ", " , ", "\t"])) for _ in items[1:]]
        group = items[0] + "".join(j + item for j, item in zip(joiners, items[1:], strict=True))
        groups.append(draw(st.sampled_from(SPACES)) + group + draw(st.sampled_from(SPACES)))
    return draw(st.sampled_from(["||", " || ", "|| "])).join(groups)


TAGS = st.one_of(
    versions(wildcards=False), versions(), st.sampled_from(["latest", "main-abc", "1.2.3.4", ""])
)
OTHERS = st.lists(versions(wildcards=False), min_size=1, max_size=8)


def check_exclude(case: tuple[str, str, list[str]]) -> None:
    range_text, tag, others = case
    try:
        result = exclude_version(range_text, tag)
    except ConstraintError as error:
        require_readable("exclude_version", str(error))
        return
    try:
        parse_constraint(result)
    except ConstraintError as error:
        raise Violation("quarantine-parses", f"{result!r}: {error}") from None
    if satisfies(result, tag):
        raise Violation("quarantine-excludes-tag", f"{result!r} still admits {tag!r}")
    excluded = parse_version(tag)
    for other in others:
        try:
            if parse_version(other).compare(excluded) == 0:
                continue
        except ConstraintError:  # the drawn version itself is invalid
            continue
        if satisfies(range_text, other) != satisfies(result, other):
            raise Violation("quarantine-keeps-others", f"{range_text!r} -> {result!r} changed {other!r}")
    if exclude_version(result, tag) != result:
        raise Violation("quarantine-idempotent", f"{result!r} changed again")


POLICY = """apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImagePolicy
metadata:
  name: app
  namespace: ns
spec:
  imageRepositoryRef:
    name: app{repo_namespace}
  policy:
{policy}
"""
REPOSITORY = """apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata:
  name: app
  namespace: ns
spec:
  image: ghcr.io/acme/app
{exclusions}"""
EXCLUSIONS = [
    "",
    "  exclusionList: []\n",
    "  exclusionList:\n",
    "  exclusionList: ['^.*\\.sig$']\n",
    "  exclusionList:\n  - '^.*\\.sig$'\n  - ^old$\n",
    '  exclusionList: ["^a$", "^b$"]\n',
    "  exclusionList: ~\n",
    "  exclusionList: nope\n",
    "  exclusionList:\n    - |\n      block\n",
]


def _quote(value: str, style: int) -> str:
    if style == 0:
        return value
    if style == 1:
        return "'" + value.replace("'", "''") + "'"
    return (
        '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'
    )


@st.composite
def quarantine_cases(draw: st.DrawFn) -> tuple[dict[str, str], str]:
    if draw(st.booleans()):
        rendered = _quote(draw(ranges()), draw(st.integers(0, 2)))
        layout = draw(st.integers(0, 2))
        policy = (
            f"    semver:\n      range: {rendered}"
            if layout == 0
            else f"    semver: {{range: {rendered}}}"
            if layout == 1
            else f"    semver:\n      range: {rendered} # comment"
        )
        files = {"policy.yaml": POLICY.format(repo_namespace="", policy=policy)}
    else:
        policy = "    alphabetical:\n      order: asc"
        files = {
            "policy.yaml": POLICY.format(
                repo_namespace=draw(st.sampled_from(["", "\n    namespace: ns"])), policy=policy
            ),
            "repo.yaml": REPOSITORY.format(exclusions=draw(st.sampled_from(EXCLUSIONS))),
        }
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    files = {name: text.replace("\n", newline) for name, text in files.items()}
    return files, draw(TAGS)


def _loads(text: str) -> bool:
    try:
        list(yaml.safe_load_all(text))
    except yaml.YAMLError:
        return False
    return True


def _docs(path: Path) -> list[Any]:
    try:
        return [doc for doc in yaml.safe_load_all(path.read_bytes()) if doc is not None]
    except yaml.YAMLError as error:
        raise Violation(
            "quarantine-output-parses", f"{path.name}: {' '.join(str(error).split())[:200]}"
        ) from None


def check_quarantine(case: tuple[dict[str, str], str]) -> None:
    files, tag = case
    with tempfile.TemporaryDirectory(prefix="gitcanary-fuzz-quarantine-") as scratch:
        root = Path(scratch)
        for name, text in files.items():
            (root / name).write_bytes(text.encode())
        try:
            changed = quarantine_tag(root, "ns:app", tag)
        except (QuarantineError, ValueError) as error:
            require_readable("quarantine_tag", str(error))
            return
        for path in changed:
            if not _loads(files[path.name]):
                continue  # PyYAML refuses the original too (libyaml, as Flux, reads tabs more freely)
            for doc in _docs(path):
                _check_doc(doc, tag)


def _check_doc(doc: Any, tag: str) -> None:
    spec = doc.get("spec") if isinstance(doc, dict) else None
    if not isinstance(spec, dict):
        return
    if doc.get("kind") == "ImagePolicy":
        new_range = spec["policy"]["semver"]["range"]
        try:
            admitted = satisfies(str(new_range), tag)
        except ConstraintError as error:
            raise Violation("quarantine-parses", f"{new_range!r}: {error}") from None
        if admitted:
            raise Violation("quarantine-excludes-tag", f"{new_range!r} still admits {tag!r}")
    elif doc.get("kind") == "ImageRepository":
        exclusions = spec.get("exclusionList") or []
        regex = tag_exclusion(tag)
        if regex not in exclusions or not re.fullmatch(regex, tag):
            raise Violation("quarantine-excludes-tag", f"exclusionList {exclusions!r} lacks {regex!r}")


TARGETS = [
    Target("semver_exclude", st.tuples(ranges(), TAGS, OTHERS), check_exclude, smoke_cases=300),
    Target("quarantine", quarantine_cases(), check_quarantine, smoke_cases=150),
]

if __name__ == "__main__":
    sys.exit(main("semver", TARGETS))
