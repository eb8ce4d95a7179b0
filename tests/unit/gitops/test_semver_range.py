"""Masterminds semver ranges: grammar, semantics, and the exclusion property."""

from __future__ import annotations

import random

import pytest

from controller.gitops.edits.semver_range import (
    ConstraintError,
    exclude_version,
    parse_constraint,
    parse_version,
    satisfies,
)


@pytest.mark.parametrize(
    ("range_text", "version", "expected"),
    [
        (">=1.0.0 <2.0.0", "1.5.0", True),
        (">=1.0.0, <2.0.0", "2.0.0", False),
        ("=>1.0 =<1.2", "1.2.9", True),
        ("5.1.x", "5.1.9", True),
        ("5.1.x", "5.2.0", False),
        ("5.1", "5.1.3", True),
        ("5", "5.9.0", True),
        ("*", "3.0.0", True),
        ("X", "0.0.1", True),
        ("~1.2.3", "1.2.9", True),
        ("~1.2.3", "1.3.0", False),
        ("~>1", "1.9.9", True),
        ("~1", "2.0.0", False),
        ("^1.2.3", "1.9.0", True),
        ("^1.2.3", "2.0.0", False),
        ("^0.2.3", "0.2.9", True),
        ("^0.2.3", "0.3.0", False),
        ("^0.0.3", "0.0.4", False),
        ("1.2 - 1.4", "1.4.9", True),
        ("1.2 - 1.4.0", "1.4.1", False),
        ("1.2 - 1.4", "1.1.9", False),
        (">1.2", "1.2.5", False),
        (">1.2", "1.3.0", True),
        ("<=1.2", "1.2.9", True),
        ("<=1.2", "1.3.0", False),
        ("!=1.2.x", "1.2.7", False),
        ("!=1.2.x", "1.3.0", True),
        ("!=1.2.3", "1.2.3", False),
        ("<1.0 || >=2.0", "1.5.0", False),
        ("<1.0 || >=2.0", "2.5.0", True),
        ("v1.2.3", "1.2.3", True),
        ("=1.2.3", "1.2.3+build.5", True),
        # prereleases only match comparators that carry a prerelease
        (">=1.0.0", "1.5.0-rc.1", False),
        (">=1.0.0-0", "1.5.0-rc.1", True),
        (">=1.0.0-0 <2.0.0", "1.5.0-rc.1", False),
        ("!=1.2.3", "1.5.0-rc.1", True),
        (">=1.2.3-alpha.2", "1.2.3-alpha.10", True),
        (">=1.2.3-alpha.2", "1.2.3-alpha.1", False),
        (">1.2.3-alpha", "1.2.3-alpha.1", True),
        ("<1.2.3-beta", "1.2.3-alpha.99", True),
    ],
)
def test_masterminds_semantics(range_text: str, version: str, expected: bool) -> None:
    assert satisfies(range_text, version) is expected


@pytest.mark.parametrize(
    "bad", ["", " ", "abc", ">=1.0.0 ||", "|| 1.0", "1.2 | 1.3", ">>1", "1.0.0-01", "~1.2.3.4", "latest"]
)
def test_invalid_ranges_are_rejected(bad: str) -> None:
    with pytest.raises(ConstraintError):
        parse_constraint(bad)


def test_versions_parse_like_flux_tags() -> None:
    assert str(parse_version("v1.2")) == "1.2.0"
    assert str(parse_version("1.2.3-rc.1+meta")) == "1.2.3-rc.1"
    for bad in ("latest", "1.2.3.4", "1.0.0-01", "", "main-abc"):
        with pytest.raises(ConstraintError):
            parse_version(bad)


def test_exclusion_format_and_idempotency() -> None:
    assert exclude_version(">=6.0.0 <7.0.0", "6.0.2") == ">=6.0.0 <7.0.0, != 6.0.2"
    assert exclude_version("1.2 - 1.4 || ^2 ", "v1.3") == "1.2 - 1.4, != 1.3.0 || ^2, != 1.3.0 "
    assert exclude_version("~1, !=1.2.3", "1.2.3") == "~1, !=1.2.3"
    once = exclude_version("6.0.x || >=7", "6.0.2-rc.1+build")
    assert once == "6.0.x, != 6.0.2-rc.1 || >=7, != 6.0.2-rc.1"
    assert exclude_version(once, "6.0.2-rc.1") == once
    with pytest.raises(ConstraintError):
        exclude_version(">=1", "latest")


_OPS = ["", "=", "!=", ">", "<", ">=", "=>", "<=", "=<", "~", "~>", "^"]
_PRE = ["", "", "", "-rc.1", "-alpha", "-0"]


def _random_version(rng: random.Random) -> str:
    parts = [str(rng.randint(0, 3)) for _ in range(rng.randint(1, 3))]
    if rng.random() < 0.2:
        parts[rng.randrange(len(parts))] = rng.choice(["x", "X", "*"])
    text = ".".join(parts)
    if len(parts) == 3 and "x" not in text.lower() and "*" not in text:
        text += rng.choice(_PRE)
    return text


def _random_range(rng: random.Random) -> str:
    groups = []
    for _ in range(rng.randint(1, 3)):
        if rng.random() < 0.15:
            groups.append(f"{_random_version(rng)} - {_random_version(rng)}")
            continue
        items = [
            f"{rng.choice(_OPS)}{rng.choice(['', ' '])}{_random_version(rng)}"
            for _ in range(rng.randint(1, 3))
        ]
        groups.append(rng.choice([" ", ", ", ","]).join(items))
    return rng.choice([" || ", "||"]).join(groups)


_UNIVERSE = [
    f"{major}.{minor}.{patch}{pre}"
    for major in range(4)
    for minor in range(4)
    for patch in range(4)
    for pre in ("", "-rc.1")
]


def test_exclusion_property_over_random_ranges() -> None:
    rng = random.Random(20240607)
    checked = valid = 0
    for _ in range(400):
        old = _random_range(rng)
        try:
            parse_constraint(old)
        except ConstraintError:
            # Masterminds quirk, kept on purpose: its version pattern admits '|', so a hyphen
            # range glued to '||' swallows the next group and the range does not parse.
            assert "||" in old and " - " in old, old
            continue
        valid += 1
        target = rng.choice(_UNIVERSE)
        new = exclude_version(old, target)
        parse_constraint(new)
        assert not satisfies(new, target), (old, new, target)
        assert exclude_version(new, target) == new
        before, after = parse_constraint(old), parse_constraint(new)
        for other in _UNIVERSE:
            if other != target:
                version = parse_version(other)
                assert after.check(version) == before.check(version), (old, new, target, other)
                checked += 1
    assert valid > 300 and checked > valid * 100
