"""CI runs the smoke mode of the sandbox chaos campaigns (bench/chaos/kill_campaign.py, git_faults.py).

Both run at once, each as its own process against the session sandbox (``--sandbox-dir``: neither
starts nor stops it), in namespaces of their own (``kc-*``, ``gf-*``, outside the session
controller's ``t-*``) with their own controllers and their own smart-HTTP remote. Each exits 0
only when nothing was lost, duplicated or stuck, and prints its figures. About three minutes.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from gitcanary_sandbox.client import SandboxClient

CHAOS = Path(__file__).resolve().parents[2] / "bench" / "chaos"
TIMEOUT_S = 420


def expect(out: str, *patterns: str) -> None:
    for pattern in patterns:
        assert re.search(pattern, out, re.MULTILINE), f"no line matches {pattern!r}\n{out}"


def test_kill_campaign_and_git_faults_smoke(sandbox: SandboxClient, tmp_path: Path) -> None:
    sandbox.require("crds")
    sandbox.require("prometheus")
    runs = {}
    for script in ("kill_campaign.py", "git_faults.py"):
        out = open(tmp_path / f"{script}.out", "w+")  # noqa: SIM115 (closed below)
        runs[script] = (
            subprocess.Popen(
                [sys.executable, str(CHAOS / script), "--smoke", "--sandbox-dir", sandbox.state.dir],
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
                cwd=CHAOS.parents[1],
            ),
            out,
        )
    outputs = {}
    try:
        for script, (proc, out) in runs.items():
            proc.wait(timeout=TIMEOUT_S)
            out.seek(0)
            outputs[script] = out.read()
            assert proc.returncode == 0, f"{script} exited {proc.returncode}\n{outputs[script][-6000:]}"
    finally:
        for proc, out in runs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
            out.close()
    expect(
        outputs["kill_campaign.py"],
        r"^kill campaign: 5 kills \(\d+ of the leader, \d+ of the standby; .*\) over 4 canaries \(2 failing\), \d+ decisions",
        r"^  final-state mismatches 0, lost write-backs 0, duplicated write-backs 0, stuck 0$",
        r"^  decision Events repeated 0, ",
        r"^  time to recover \(leader killed -> a replica leads\): p50 [\d.na]+ s, p99 [\d.na]+ s",
        r"^  verdict: ok",
    )
    expect(
        outputs["git_faults.py"],
        r"^git faults: 4 canaries \(2 failing\), \d+ decisions",
        r"^  intents pending at a fault's end, landed after it cleared in: down [\d.]+ s, reject [\d.]+ s, "
        r"hung [\d.]+ s, rewrite [\d.]+ s$",
        r"^  pushes declined by the hook \d+ of \d+; branch rewrites [1-9]\d*; controller exits 0$",
        r"^  lost write-backs 0, duplicated write-backs 0, final-state mismatches 0, stuck 0, decision Events repeated 0$",
        r"^  longest analysis gap [\d.]+ s .*, stalls 0$",
        # the branch rewritten under an applied decision: said once, never re-pushed, cleared
        r"^  drop \w+ \(gf-[\w-]+, intent \w+\): WriteBackLost=True after [\d.]+ s, 1 DecisionCommitMissing "
        r"Event\(s\), re-pushed 0; put back: False \(DecisionCommitFound\) after [\d.]+ s, Events then 1$",
        r"^  WriteBackLost=True before the drop \(false alarms\): 0 ",
        r"^  verdict: ok",
    )
