"""Inputs the semver fuzz campaign (bench/chaos/fuzz_semver.py) found, kept as regressions.

A range in Git is tenant input: the controller parses every ImagePolicy range it quarantines.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from controller.gitops.edits.semver_range import ConstraintError, exclude_version, parse_constraint

# Whitespace-separated comparators that end in an invalid one: the group regex backtracked over
# every way of splitting the runs of spaces between them (3^n), so 10 comparators took 30 s and
# 14 would take hours, holding the GIL (the whole controller stalls, not only this canary).
BACKTRACKING_RANGES = [
    "   ".join(["1"] * 14) + " !",
    "   ".join([">=1.0.0"] * 20) + " ==2",
    "   ".join(["~1.2"] * 16) + " ,bogus",
    "  ".join(["1.x"] * 22) + " >",
]


@pytest.mark.parametrize("range_text", BACKTRACKING_RANGES)
def test_an_invalid_range_is_refused_quickly(range_text: str) -> None:
    # A subprocess, so that catastrophic backtracking fails this test instead of hanging the run.
    program = (
        "import sys\n"
        "from controller.gitops.edits.semver_range import ConstraintError, parse_constraint\n"
        "try:\n"
        "    parse_constraint(sys.argv[1])\n"
        "except ConstraintError:\n"
        "    print('refused')\n"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", program, range_text], capture_output=True, text=True, timeout=10
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"parse_constraint ran for over 10 s on {range_text!r}")
    assert done.stdout.strip() == "refused", done.stderr


def test_a_long_valid_range_still_parses_and_excludes() -> None:
    range_text = "   ".join([">=1.0.0"] * 30) + " || 1 - 2"
    assert exclude_version(range_text, "1.2.3") == (
        "   ".join([">=1.0.0"] * 30) + ", != 1.2.3 || 1 - 2, != 1.2.3"
    )
    assert len(parse_constraint(range_text).groups[0]) == 30


@pytest.mark.parametrize(
    ("range_text", "version"),
    [
        ("\x8e\x9cT\x85\x0e", "1.2.3"),  # found by the campaign: C1 controls echoed raw
        ("\x1b[2J>=1.0.0", "1.2.3"),  # a terminal escape (clears the screen of whoever reads it)
        (">=1.0.0", "\x1b[31m1.2.3"),
        ("1.0.0 ! " + "x" * 100_000, "1.2.3"),  # 100 kB echoed back whole
    ],
)
def test_a_refused_range_or_version_is_echoed_printable_and_short(range_text: str, version: str) -> None:
    with pytest.raises(ConstraintError) as refused:
        exclude_version(range_text, version)
    message = str(refused.value)
    assert message.isprintable(), message
    assert len(message) < 300


def test_a_version_with_thousands_of_digits_is_a_constraint_error() -> None:
    # int() refuses more than 4300 digits with a plain ValueError, which callers that catch
    # ConstraintError (quarantine) let through.
    with pytest.raises(ConstraintError, match="invalid semantic version"):
        exclude_version(">=1.0.0", "1" * 5000 + ".0.0")
