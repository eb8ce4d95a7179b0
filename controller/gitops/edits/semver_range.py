"""Semver ranges as Flux reads them (Masterminds semver v3), and excluding one version.

Flux's ImagePolicy ``spec.policy.semver.range`` is parsed by Masterminds/semver v3:

- ``||`` separates OR groups; inside a group ``,`` or whitespace means AND;
- operators ``=``, ``!=``, ``>``, ``<``, ``>=`` (``=>``), ``<=`` (``=<``), ``~`` (``~>``),
  ``^`` and none (equal, or tilde when a part is a wildcard);
- ``x``, ``X`` and ``*`` are wildcards, missing minor/patch parts count as wildcards;
- ``1.2 - 1.4`` is a hyphen range, rewritten to ``>= 1.2, <= 1.4`` before parsing;
- a prerelease version only satisfies a comparator whose own version has a prerelease
  (``!=`` with a full version is the exception: it never rejects for that reason).

Invariants:
- :func:`exclude_version` returns a range that parses, that no longer admits the version,
  and that admits every other version exactly as before (``!=`` with a full version only
  rejects versions equal to it, build metadata ignored as Masterminds does).
- It is idempotent: an OR group that already has ``!= <version>`` is left as it is, and a
  range with nothing to add is returned unchanged, byte for byte.
- This module is pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

_S = r"[ \t\n\f\r]"  # Go RE2's \s
_OPS = r"=||!=|>|<|>=|=>|<=|=<|~|~>|\^"
_CV = (
    r"v?([0-9|x|X|\*]+)(\.[0-9|x|X|\*]+)?(\.[0-9|x|X|\*]+)?"
    r"(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?"
    r"(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?"
)
_CONSTRAINT = re.compile(rf"{_S}*({_OPS}){_S}*({_CV}){_S}*")
# A hyphen range's low end starts only where no longer version could start (Go's leftmost match
# would take that one): without this, finditer re-scanned a long run of version characters from
# each of its positions (quadratic: 100 kB of "x" took minutes).
_RANGE = re.compile(rf"{_S}*(?:(?<![0-9|xX*v])|(?=v))((?>{_CV})){_S}+-{_S}+({_CV}){_S}*")
_FIND = re.compile(rf"({_OPS}){_S}*({_CV})")
# Masterminds' group regex, ``(WS* OP WS* CV WS*)((WS+ | , WS*) OP WS* CV WS*)*``, matches in linear
# time under Go's RE2; Python's backtracking engine tried every split of the whitespace runs
# between comparators (exponential on an invalid range). Same language, written so that no
# whitespace run can be split two ways: possessive whitespace, atomic comparators.
_ITEM = rf"(?>(?:{_OPS}){_S}*+{_CV})"
_VALID_GROUP = re.compile(rf"{_S}*+{_ITEM}(?:(?:{_S}++|{_S}*+,{_S}*+){_ITEM})*{_S}*+")
_VERSION = re.compile(
    r"v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?"
    r"(?:-([0-9A-Za-z\-]+(?:\.[0-9A-Za-z\-]+)*))?"
    r"(?:\+([0-9A-Za-z\-]+(?:\.[0-9A-Za-z\-]+)*))?"
)


class ConstraintError(ValueError):
    """A range or a version does not parse."""


_ECHO = 80


def _shown(text: str) -> str:
    """``text`` as a message may echo it: printable (escapes for control characters) and short."""
    cut = text if len(text) <= _ECHO else text[: _ECHO - 3] + "..."
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in cut)


@dataclass(frozen=True)
class Version:
    """A semantic version; build metadata is kept but never compared."""

    major: int
    minor: int
    patch: int
    prerelease: str = ""
    metadata: str = ""

    def compare(self, other: Version) -> int:
        """-1, 0 or 1, following semver precedence."""
        for mine, theirs in (
            (self.major, other.major),
            (self.minor, other.minor),
            (self.patch, other.patch),
        ):
            if mine != theirs:
                return 1 if mine > theirs else -1
        return _compare_prerelease(self.prerelease, other.prerelease)

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        return f"{text}-{self.prerelease}" if self.prerelease else text


def _compare_prerelease(mine: str, theirs: str) -> int:
    if mine == theirs:
        return 0
    if not mine:
        return 1
    if not theirs:
        return -1
    left, right = mine.split("."), theirs.split(".")
    for index in range(max(len(left), len(right))):
        a = left[index] if index < len(left) else ""
        b = right[index] if index < len(right) else ""
        result = _compare_identifier(a, b)
        if result:
            return result
    return 0


def _compare_identifier(a: str, b: str) -> int:
    if a == b:
        return 0
    if not a:
        return -1
    if not b:
        return 1
    if a.isdigit() and b.isdigit():
        return 1 if int(a) > int(b) else -1
    if a.isdigit():
        return -1
    if b.isdigit():
        return 1
    return 1 if a > b else -1


def parse_version(text: str) -> Version:
    """Parse a version as Masterminds ``NewVersion`` does (``v`` prefix, ``1.2`` -> 1.2.0)."""
    match = _VERSION.fullmatch(text)
    if match is None:
        raise ConstraintError(f"invalid semantic version '{_shown(text)}'")
    major, minor, patch, prerelease, metadata = match.groups()
    for identifier in (prerelease or "").split("."):
        if len(identifier) > 1 and identifier.isdigit() and identifier.startswith("0"):
            raise ConstraintError(
                f"invalid semantic version '{_shown(text)}': prerelease '{_shown(identifier)}' has a leading 0"
            )
    try:
        numbers = [int(part.lstrip(".")) if part else 0 for part in (major, minor, patch)]
    except ValueError:  # more digits than int() converts (4300)
        raise ConstraintError(f"invalid semantic version '{_shown(text)}': a number is too long") from None
    return Version(numbers[0], numbers[1], numbers[2], prerelease or "", metadata or "")


@dataclass(frozen=True)
class Comparator:
    """One comparison such as ``>=1.2``; ``dirty`` flags record wildcard or missing parts."""

    operator: str
    version: Version
    original: str
    dirty: bool
    minor_dirty: bool
    patch_dirty: bool

    def check(self, v: Version) -> bool:
        """Whether ``v`` satisfies this comparator."""
        return _CHECKS[self.operator](v, self)

    def __str__(self) -> str:
        return f"{self.operator}{self.original}"


@dataclass(frozen=True)
class Constraint:
    """A parsed range: OR of AND groups."""

    text: str
    groups: tuple[tuple[Comparator, ...], ...]

    def check(self, v: Version) -> bool:
        """Whether ``v`` satisfies any group."""
        return any(all(c.check(v) for c in group) for group in self.groups)


def _is_x(part: str) -> bool:
    return part in ("x", "X", "*")


def _parse_comparator(text: str) -> Comparator:
    match = _CONSTRAINT.fullmatch(text)
    if match is None:
        raise ConstraintError(f"improper constraint: {_shown(text)}")
    operator, original, major, minor, patch, prerelease = match.group(1, 2, 3, 4, 5, 6)
    minor, patch, prerelease = minor or "", patch or "", prerelease or ""
    dirty = minor_dirty = patch_dirty = False
    source = original
    if _is_x(major):
        source, dirty = f"0.0.0{prerelease}", True
    elif not minor or _is_x(minor[1:]):
        source, dirty, minor_dirty = f"{major}.0.0{prerelease}", True, True
    elif not patch or _is_x(patch[1:]):
        source, dirty, patch_dirty = f"{major}{minor}.0{prerelease}", True, True
    try:
        version = parse_version(source)
    except (ConstraintError, ValueError) as error:
        raise ConstraintError(f"improper constraint: {_shown(text)}") from error
    return Comparator(operator, version, original, dirty, minor_dirty, patch_dirty)


def _rewrite_hyphen_ranges(text: str) -> str:
    out = text
    for match in _RANGE.finditer(text):
        low, high = match.group(1), match.group(11)
        out = out.replace(match.group(0), f">= {low}, <= {high}", 1)
    return out


def parse_constraint(range_text: str) -> Constraint:
    """Parse a Masterminds range; raises :class:`ConstraintError` like ``NewConstraint``."""
    groups: list[tuple[Comparator, ...]] = []
    for group in _rewrite_hyphen_ranges(range_text).split("||"):
        if _VALID_GROUP.fullmatch(group) is None:
            raise ConstraintError(f"improper constraint: {_shown(group)}")
        found = [m.group(0) for m in _FIND.finditer(group)] or [group]
        groups.append(tuple(_parse_comparator(item) for item in found))
    return Constraint(range_text, tuple(groups))


def satisfies(range_text: str, version: str) -> bool:
    """Whether ``version`` (parsed like a Flux tag) satisfies ``range_text``."""
    return parse_constraint(range_text).check(parse_version(version))


def _excludes(group: str, version: Version) -> bool:
    return any(
        c.operator == "!=" and not c.dirty and c.version.compare(version) == 0
        for c in parse_constraint(group).groups[0]
    )


def exclude_version(range_text: str, version: str) -> str:
    """Append ``, != X.Y.Z`` to every OR group of ``range_text`` that lacks it."""
    parse_constraint(range_text)
    excluded = parse_version(version)
    groups = range_text.split("||")
    changed = False
    for index, group in enumerate(groups):
        if _excludes(group, excluded):
            continue
        body = group.rstrip()
        groups[index] = f"{body}, != {excluded}{group[len(body) :]}"
        changed = True
    if not changed:
        return range_text
    result = "||".join(groups)
    parse_constraint(result)
    return result


def _pre_guard(v: Version, c: Comparator) -> bool:
    """Masterminds' prerelease rule: a prerelease needs a prerelease in the comparator."""
    return not (v.prerelease and not c.version.prerelease)


def _not_equal(v: Version, c: Comparator) -> bool:
    con = c.version
    if c.dirty:
        if not _pre_guard(v, c):
            return False
        if con.major != v.major:
            return True
        if con.minor != v.minor and not c.minor_dirty:
            return True
        if c.minor_dirty:
            return False
        if con.patch != v.patch and not c.patch_dirty:
            return True
        if c.patch_dirty:
            if v.prerelease or con.prerelease:
                return _compare_prerelease(v.prerelease, con.prerelease) != 0
            return False
    return v.compare(con) != 0


def _greater(v: Version, c: Comparator) -> bool:
    if not _pre_guard(v, c):
        return False
    con = c.version
    if not c.dirty:
        return v.compare(con) == 1
    if v.major != con.major:
        return v.major > con.major
    if c.minor_dirty:
        return False
    if c.patch_dirty:
        return v.minor > con.minor
    return v.compare(con) == 1


def _less(v: Version, c: Comparator) -> bool:
    return _pre_guard(v, c) and v.compare(c.version) < 0


def _greater_equal(v: Version, c: Comparator) -> bool:
    return _pre_guard(v, c) and v.compare(c.version) >= 0


def _less_equal(v: Version, c: Comparator) -> bool:
    if not _pre_guard(v, c):
        return False
    con = c.version
    if not c.dirty:
        return v.compare(con) <= 0
    if v.major > con.major:
        return False
    return not (v.major == con.major and v.minor > con.minor and not c.minor_dirty)


def _tilde(v: Version, c: Comparator) -> bool:
    if not _pre_guard(v, c):
        return False
    con = c.version
    if v.compare(con) < 0:
        return False
    if (con.major, con.minor, con.patch) == (0, 0, 0) and not c.minor_dirty and not c.patch_dirty:
        return True
    if v.major != con.major:
        return False
    return not (v.minor != con.minor and not c.minor_dirty)


def _tilde_or_equal(v: Version, c: Comparator) -> bool:
    if not _pre_guard(v, c):
        return False
    if c.dirty:
        return _tilde(v, c)
    return v.compare(c.version) == 0


def _caret(v: Version, c: Comparator) -> bool:
    if not _pre_guard(v, c):
        return False
    con = c.version
    if v.compare(con) < 0:
        return False
    if con.major > 0 or c.minor_dirty:
        return v.major == con.major
    if v.major > 0:
        return False
    if con.minor > 0 or c.patch_dirty:
        return v.minor == con.minor
    if v.minor > 0:
        return False
    return v.patch == con.patch


_CHECKS: dict[str, Callable[[Version, Comparator], bool]] = {
    "": _tilde_or_equal,
    "=": _tilde_or_equal,
    "!=": _not_equal,
    ">": _greater,
    "<": _less,
    ">=": _greater_equal,
    "=>": _greater_equal,
    "<=": _less_equal,
    "=<": _less_equal,
    "~": _tilde,
    "~>": _tilde,
    "^": _caret,
}
