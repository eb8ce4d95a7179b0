"""CI runs every fuzz campaign of bench/chaos in its smoke mode and fails on any finding.

Each campaign runs as its own process (as a user runs it), with seed 0 and a derandomized
hypothesis profile, so a run draws the same inputs every time; the smoke mode caps each target
at a few seconds. A finding is printed with its smallest input; keep it as a regression test
under tests/unit/fuzz_regressions/ when you fix it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

CHAOS = Path(__file__).resolve().parents[2] / "bench" / "chaos"
CAMPAIGNS = ["fuzz_specs.py", "fuzz_yaml.py", "fuzz_semver.py", "fuzz_responses.py"]


@pytest.mark.parametrize("campaign", CAMPAIGNS)
def test_the_smoke_campaign_finds_nothing(campaign: str) -> None:
    done = subprocess.run(
        [sys.executable, str(CHAOS / campaign), "--smoke", "--seed", "0"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    result_lines = [line for line in done.stdout.splitlines() if line.startswith("FUZZ-RESULT ")]
    assert result_lines, f"no figures printed\n{done.stdout}\n{done.stderr[-3000:]}"
    result = json.loads(result_lines[-1].removeprefix("FUZZ-RESULT "))
    assert result["cases"] > 0
    assert done.returncode == 0 and result["crashes"] == 0, done.stdout[-12_000:]
