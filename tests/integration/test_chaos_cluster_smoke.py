"""CI runs the smoke modes of the cluster-fault campaign and the soak (bench/chaos/cluster_faults.py, soak.py).

Both run at once, each on a sandbox of this module's own (started at once): the campaign stops and
starts its sandbox's kube-apiserver, etcd, Prometheus and Flux controllers, which the session
sandbox's other users must never see, and the soak's memory figures must not see those outages.
Each script prints its figures and must exit 0; the figures lines are checked one by one, and the
campaign's ``violations:`` line must say ``none``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitcanary_sandbox import environment
from gitcanary_sandbox.client import SandboxClient

CHAOS = Path(__file__).resolve().parents[2] / "bench" / "chaos"
TIMEOUT_S = 600


def start(base: Path, with_flux: bool) -> subprocess.Popen[str]:
    """``environment.up`` in a process of its own, so the two sandboxes start at once."""
    code = (
        "import sys; from pathlib import Path; from gitcanary_sandbox import environment; "
        "s = environment.up(Path(sys.argv[1]), progress=lambda m: None, with_flux=sys.argv[2] == '1'); "
        "print(s.parts)"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code, str(base), "1" if with_flux else "0"], stdout=subprocess.PIPE, text=True
    )


@pytest.fixture(scope="module")
def sandboxes() -> Iterator[dict[str, SandboxClient]]:
    """A sandbox with Flux for the cluster faults, a plain one for the soak: neither is shared."""
    bases = {name: Path(tempfile.mkdtemp(prefix=f"gitcanary-chaos-{name}-")) for name in ("faults", "soak")}
    try:
        starting = {name: start(base, name == "faults") for name, base in bases.items()}
        for name, proc in starting.items():
            out, _ = proc.communicate(timeout=600)
            assert proc.returncode == 0, f"{name} sandbox did not start: {out}"
        clients = {}
        for name, base in bases.items():
            state = environment.SandboxState.load(base)
            assert state is not None
            clients[name] = SandboxClient(state)
        yield clients
    finally:
        for base in bases.values():
            environment.down(base, quiet=True)
            shutil.rmtree(base, ignore_errors=True)


def launch(script: str, sandbox: SandboxClient, out: Path) -> subprocess.Popen[str]:
    with open(out, "w") as sink:
        return subprocess.Popen(
            [sys.executable, str(CHAOS / script), "--smoke", "--sandbox-dir", sandbox.state.dir],
            stdout=sink,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=CHAOS.parents[1],
        )


def finish(proc: subprocess.Popen[str], out: Path) -> tuple[int, str]:
    try:
        proc.wait(timeout=TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=60)
    return proc.returncode, out.read_text()


def expect(out: str, *patterns: str) -> None:
    for pattern in patterns:
        assert re.search(pattern, out, re.MULTILINE), f"no line matches {pattern!r}\n{out[-6000:]}"


def test_cluster_faults_and_soak_smoke(sandboxes: dict[str, SandboxClient], tmp_path: Path) -> None:
    faults, soak = sandboxes["faults"], sandboxes["soak"]
    for part in ("crds", "prometheus", "source-controller"):
        faults.require(part)
    soak.require("crds")
    runs = {
        "cluster_faults.py": launch("cluster_faults.py", faults, tmp_path / "faults.out"),
        "soak.py": launch("soak.py", soak, tmp_path / "soak.out"),
    }
    soak_code, soak_out = finish(runs["soak.py"], tmp_path / "soak.out")
    code, out = finish(runs["cluster_faults.py"], tmp_path / "faults.out")
    assert soak_code == 0, soak_out[-6000:]
    expect(
        soak_out,
        r"^soak: 0.15 simulated hours \(90 s real at 6x: .*\), 3 canaries \(1 failing\), \d+ decisions",
        r"^  RSS [\d.]+ MiB at start, [\d.]+ MiB peak, [\d.]+ MiB at end; open descriptors \d+ at start",
        r"^  after the warm-up \(30%\): RSS growth -?[\d.]+ MiB \(bound 32\), slope -?[\d.]+ MiB per simulated hour; "
        r"descriptor growth -?\d+ \(bound 8\)$",
        r"^  largest Canary object [\d.]+ KiB \(bound 256\); clones in the git cache 1; controller exits 0",
        r"^  lost write-backs 0, duplicated write-backs 0, final-state mismatches 0, stuck 0, decision Events repeated 0$",
        r"^  verdict: ok",
    )
    expect(
        out,
        r"^cluster faults: 3 canaries, \d+ decisions, .*Flux controllers restarted$",
        r"^  controller exits 0, tracebacks in its log \d+",
        r"^  analyses resumed \(first tick: logged or a step\) after the apiserver served again in \(max over canaries\): "
        r"kube-apiserver [\d.inf]+ s, etcd [\d.inf]+ s",
        r"^  inconclusive checks at once: Prometheus down [1-9]\d*, slow [1-9]\d*; "
        r"Events inconclusive \(unreachable\) [1-9]\d*, \(timeout\) [1-9]\d*; polls with failedChecks < inconclusiveChecks 0$",
        r"^  lost write-backs 0, duplicated write-backs 0, wrong results 0 .*, unfinished 0, stuck 0, decision Events repeated 0$",
        r"^  longest analysis gap .*, stalls 0$",
        r"GitRepositories serving the head after the Flux restart in [\d.]+ s$",
    )
    assert re.search(r"^  violations: none$", out, re.MULTILINE), out[-6000:]
    assert code == 0, out[-6000:]
