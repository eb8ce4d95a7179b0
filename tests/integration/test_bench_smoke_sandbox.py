"""CI runs the smoke mode of every benchmark that needs the sandbox, so none can rot unnoticed.

Each benchmark runs as its own process against the session sandbox (``--sandbox-dir`` or
``--kubeconfig``: it neither starts nor stops it) in a namespace of its own, with its own
controller limited to that namespace (bench_peer: Flagger, then gitcanary, each alone); it must
exit 0 and print its figures. The benchmarks that need no sandbox are smoke-tested in
tests/unit/test_bench_smoke.py. About 3.5 minutes in all, two of them bench_peer's (Flagger takes
a minute for one rollout whatever the analysis interval).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from gitcanary_sandbox.client import SandboxClient

BENCH = Path(__file__).resolve().parents[2] / "bench"


def run_smoke(script: str, *args: str, timeout: float = 240) -> str:
    done = subprocess.run(
        [sys.executable, str(BENCH / script), "--smoke", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=BENCH.parent,
    )
    assert done.returncode == 0, f"{script} exited {done.returncode}\n{done.stdout}\n{done.stderr[-4000:]}"
    return done.stdout


def expect(out: str, *patterns: str) -> None:
    for pattern in patterns:
        assert re.search(pattern, out, re.MULTILINE), f"no line matches {pattern!r}\n{out}"


@pytest.fixture
def sandbox_dir(sandbox: SandboxClient) -> str:
    sandbox.require("crds")
    return sandbox.state.dir


def test_reaction_smoke(sandbox_dir: str) -> None:
    out = run_smoke("bench_reaction.py", "--sandbox-dir", sandbox_dir)
    expect(out, r"^reaction \(target change -> Progressing\), 3 trials: p50 \d+ ms, p99 \d+ ms, max \d+ ms")


def test_scale_smoke(sandbox_dir: str) -> None:
    out = run_smoke("bench_scale.py", "--sandbox-dir", sandbox_dir)
    expect(
        out,
        r"^scale: 5 progressing canaries at a 10s interval, 12s window, [1-9]\d* timed ticks",
        r"^  tick lateness \(bucket upper bounds\): p50 <= [\d.]+ s, p99 <= [\d.]+ s",
        r"^  controller RSS \d+ MiB, peak \d+ MiB",
    )


def test_writeback_smoke_beside_image_automation_controller(sandbox: SandboxClient) -> None:
    sandbox.require("crds")
    out = run_smoke("bench_writeback.py", "--vs-flux", "--kubeconfig", str(sandbox.kubeconfig))
    expect(
        out,
        r"^intents/s: median [\d.]+, min [\d.]+, max [\d.]+ over 2 runs",
        r"^audit \(.*\): ok$",
        r"^  image-automation-controller v1\.2\.0 +p50 +\d+ ms, max +\d+ ms",
        r"^  gitcanary write-back +p50 +\d+ ms, max +\d+ ms",
    )


def test_peer_smoke_runs_flagger_and_gitcanary_each_alone(sandbox_dir: str) -> None:
    out = run_smoke("bench_peer.py", "--sandbox-dir", sandbox_dir, timeout=400)
    number = r" +-?[\d.]+ \|"
    expect(
        out,
        r"^N=2$",
        *(
            rf"^\| {label} +\|{number}{number} +[-\d.]+ \|$"
            for label in (
                r"reaction p50 \(s\)",
                r"time to Succeeded p50 \(s\)",
                r"controller CPU per rollout \(s\)",
                r"peak RSS \(MiB\)",
                r"apiserver requests per rollout",
            )
        ),
    )
