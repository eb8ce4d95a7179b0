"""CI runs the smoke mode of every benchmark that needs no sandbox, so none can rot unnoticed.

Each benchmark runs as its own process, as a user runs it (``--smoke``: small N, seconds), and
must exit 0 and print its figures. The benchmarks that need the sandbox are smoke-tested in
tests/integration/test_bench_smoke_sandbox.py; the fuzz campaigns of bench/chaos in test_fuzz_smoke.py.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import typing
from pathlib import Path
from types import ModuleType

import pytest

from controller.analysis import Request

BENCH = Path(__file__).resolve().parents[2] / "bench"

# benchmark -> lines its smoke run must print (each a regular expression)
FIGURES = {
    "bench_engine.py": [
        r"^steady +ticks= +2000 +p50= *[\d.]+ us +p99= *[\d.]+ us",
        r"^lifecycle +ticks= +2000 +p50= *[\d.]+ us +p99= *[\d.]+ us",
    ],
    "bench_loadgen.py": [
        r"^ceiling \(-c 5, no -q\): +[\d.]+/s$",
        r"^-q +10\.0 -c +1  target +10\.0/s  measured +[\d.]+/s  ratio +[\d.]+  errors 0",
        r"^-q +20\.0 -c +4  target +80\.0/s  measured +[\d.]+/s  ratio +[\d.]+  errors 0",
    ],
    "bench_markers.py": [
        r"find_markers \(all\): +p50 +[\d.]+ ms",
        r"revert_image_policy p50 +[\d.]+ ms",
        r"^fidelity over corpus: (\d+)/\1 edits",
    ],
    "bench_writeback.py": [
        r"^decision -> pushed commit, .*: p50 \d+ ms, p99 \d+ ms$",
        r"^  run 0: +[\d.]+ intents/s .* rival: \d+ pushes tried .* [1-9]\d* landed",
        r"^intents/s: median [\d.]+, min [\d.]+, max [\d.]+ over 2 runs",
        r"^audit \(.*\): ok$",
    ],
}


def run_smoke(script: str, timeout: float = 90) -> str:
    done = subprocess.run(
        [sys.executable, str(BENCH / script), "--smoke"],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=BENCH.parent,
    )
    assert done.returncode == 0, f"{script} exited {done.returncode}\n{done.stdout}\n{done.stderr[-4000:]}"
    return done.stdout


@pytest.mark.parametrize("script", sorted(FIGURES))
def test_smoke_mode_exits_0_and_prints_its_figures(script: str) -> None:
    out = run_smoke(script)
    for pattern in FIGURES[script]:
        assert re.search(pattern, out, re.MULTILINE), f"{script}: no line matches {pattern!r}\n{out}"


def _load(script: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(script.removesuffix(".py"), BENCH / script)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_engine_bench_answers_every_request_the_engine_can_emit() -> None:
    bench = _load("bench_engine.py")
    assert bench.unanswered_request_types() == []
    for kind in typing.get_args(Request):
        assert kind in bench.EFFECTS or kind in (
            bench.CheckReady,
            bench.CheckPrimaryPromoted,
            bench.RunWebhooks,
            bench.RunMetricChecks,
            bench.AcquireSlot,
        )
    assert bench.handle(bench.AcquireSlot()) is True


def test_engine_bench_refuses_to_start_when_a_request_type_is_unanswered(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = _load("bench_engine.py")
    monkeypatch.setattr(bench, "EFFECTS", ())  # as if the engine grew requests the bench never heard of
    assert "Notify" in bench.unanswered_request_types()
    assert bench.main(["--smoke"]) == 2
    assert "the handler answers no InitializePrimary" in capsys.readouterr().err


def test_engine_bench_stops_loudly_on_an_unanswered_request_mid_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = _load("bench_engine.py")
    with pytest.raises(bench.UnansweredRequest, match="does not answer object"):
        bench.handle(object())
    monkeypatch.setattr(bench, "EFFECTS", ())
    monkeypatch.setattr(bench, "unanswered_request_types", list)  # skip the start-up check
    assert bench.main(["--smoke"]) == 2
    assert "does not answer" in capsys.readouterr().err
