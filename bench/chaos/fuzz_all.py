"""Run every fuzz campaign of bench/chaos and print one table of figures (Markdown).

Run: ``.venv/bin/python bench/chaos/fuzz_all.py`` (the full campaign: 10,000 cases per target),
``--smoke`` for the CI smoke modes, or any campaign option (``--cases``, ``--seconds``,
``--seed``), which is passed to each campaign. Each campaign's own report (with every finding
and its smallest input) is printed first. Exit status 1 when any campaign found something.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

CHAOS = Path(__file__).resolve().parent
CAMPAIGNS = ["fuzz_specs.py", "fuzz_yaml.py", "fuzz_semver.py", "fuzz_responses.py"]


def main(argv: list[str]) -> int:
    began = time.monotonic()
    results = []
    for campaign in CAMPAIGNS:
        done = subprocess.run([sys.executable, str(CHAOS / campaign), *argv], capture_output=True, text=True)
        print(done.stdout, end="")
        print(done.stderr[-2000:], end="", file=sys.stderr)
        lines = [line for line in done.stdout.splitlines() if line.startswith("FUZZ-RESULT ")]
        if not lines:
            print(f"{campaign}: no figures (exit {done.returncode})", file=sys.stderr)
            return 1
        results.append(json.loads(lines[-1].removeprefix("FUZZ-RESULT ")))
    print("\n| campaign | target | cases | crashes | distinct signatures | seconds | slowest case (s) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for result in results:
        for target in result["targets"]:
            print(
                f"| {result['campaign']} | {target['name']} | {target['cases']:,} | {target['crashes']:,} "
                f"| {len(target['signatures'])} | {target['seconds']:.1f} | {target['slowest']:.3f} |"
            )
    cases = sum(r["cases"] for r in results)
    crashes = sum(r["crashes"] for r in results)
    signatures = sum(r["signatures"] for r in results)
    print(
        f"| **total** | | **{cases:,}** | **{crashes:,}** | **{signatures}** | {time.monotonic() - began:.0f} | |"
    )
    for result in results:
        for target in result["targets"]:
            for signature in target["signatures"]:
                print(f"- {result['campaign']}/{target['name']}: {signature}")
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
