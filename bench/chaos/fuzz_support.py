"""The harness every fuzz campaign under bench/chaos/ shares.

A campaign is a list of :class:`Target`: a hypothesis strategy that draws inputs and a ``check``
that feeds one input to the code under test and raises :class:`Violation` when an invariant
breaks. Any other exception that escapes ``check`` is a crash: the check catches the module's
documented error types itself (and checks that their message is readable), so whatever escapes
is undocumented.

How a campaign runs (``main``):

- The script is the parent. It starts itself again as a worker (``--worker``) that runs the
  targets and streams JSON events on stdout; the parent prints the figures. A case that runs
  longer than ``--hang-seconds`` is a hang: ``faulthandler`` kills the worker (a regex stuck in C
  holds the GIL, so no Python-level timer could), the parent records the hang with the input the
  worker had written to its case file, and starts a new worker at the next chunk.
- Inputs come in chunks of ``CHUNK`` cases, each drawn by hypothesis under a fixed seed derived
  from ``--seed``, the target and the chunk number, with the example database off and only the
  generate phase (no shrinking: a campaign keeps going after a finding and counts them all).
  The smoke mode (``--smoke``) runs one derandomized chunk per target, ``Target.smoke_cases``
  cases under a time cap: the same inputs on every run.
- Every finding has a signature: for a crash, the exception type and the innermost
  ``controller/`` frame (module and function); for a violation, the invariant's name. The
  smallest input seen (by its ``repr``) is kept per signature.

Exit status: 0 when no case found anything, 1 otherwise. The last line printed is
``FUZZ-RESULT <json>`` with every figure, for ``fuzz_all.py`` and the CI smoke test.
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import hashlib
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHUNK = 250
"""Cases per hypothesis run in the long mode."""
FULL_CASES = 10_000
"""Cases per target of the full campaign."""
SMOKE_SECONDS = 4.0
"""Time cap per target in the smoke mode (the smoke mode normally ends on its case count)."""
HANG_SECONDS = 30.0
"""A case running longer than this is a hang."""
REPR_LIMIT = 600
"""Characters of an input shown with a finding."""
_ROOT = Path(__file__).resolve().parents[2]
_INTERNAL_REPR = (
    re.compile(r"<[\w.]+ object at 0x[0-9a-fA-F]+>"),
    re.compile(r"Traceback \(most recent call last\)"),
    re.compile(r"<class '[\w.]+'>"),
    re.compile(r"\b\w+Error\(\s*['\"]"),
    re.compile(r"\{'type': '"),
    re.compile(r"input_value="),
    re.compile(r"errors\.pydantic\.dev"),
)
MESSAGE_LIMIT = 2000
"""Longest message that still counts as readable."""


class _TimeUp(Exception):
    """Raised inside a hypothesis run to end it when the target's time budget is spent."""


class Violation(Exception):
    """An invariant of the code under test does not hold for this input."""

    def __init__(self, invariant: str, detail: str) -> None:
        super().__init__(f"{invariant}: {detail}")
        self.invariant = invariant
        self.detail = detail


def unreadable(message: object) -> str | None:
    """Why ``message`` is not a readable rejection (None when it is one).

    Readable: a non-empty string of at most ``MESSAGE_LIMIT`` characters, with no control
    characters but tabs and newlines (an escape sequence or a carriage return rewrites what a
    terminal shows) and no Python repr of internals (object addresses, tracebacks, classes, pydantic's
    raw error dicts).
    """
    if not isinstance(message, str):
        return f"not a string: {type(message).__name__}"
    if not message.strip():
        return "empty"
    if len(message) > MESSAGE_LIMIT:
        return f"{len(message)} characters long"
    if any((ord(ch) < 32 and ch not in "\t\n") or 127 <= ord(ch) < 160 for ch in message):
        return "holds control characters (terminal escapes, carriage returns, NULs)"
    for pattern in _INTERNAL_REPR:
        if pattern.search(message):
            return f"holds a Python repr of internals ({pattern.pattern})"
    return None


def require_readable(where: str, message: object) -> None:
    """Raise :class:`Violation` ``readable-message`` unless ``message`` is readable."""
    reason = unreadable(message)
    if reason is not None:
        raise Violation("readable-message", f"{where}: {reason}: {shorten(repr(message))}")


def shorten(text: str, limit: int = REPR_LIMIT) -> str:
    return text if len(text) <= limit else f"{text[: limit - 40]}... ({len(text)} characters)"


@dataclass(frozen=True)
class Target:
    """One fuzz target: inputs from ``strategy``, fed to ``check``."""

    name: str
    strategy: Any
    """A hypothesis SearchStrategy."""
    check: Callable[[Any], None]
    smoke_cases: int = 150
    describe: str = ""


@dataclass
class Finding:
    signature: str
    count: int = 0
    detail: str = ""
    example: str = ""


@dataclass
class TargetFigures:
    name: str
    cases: int = 0
    seconds: float = 0.0
    slowest: float = 0.0
    findings: dict[str, Finding] = field(default_factory=dict)

    @property
    def crashes(self) -> int:
        return sum(f.count for f in self.findings.values())

    def add(self, signature: str, detail: str, example: str) -> None:
        finding = self.findings.setdefault(signature, Finding(signature))
        finding.count += 1
        if not finding.example or len(example) < len(finding.example):
            finding.example, finding.detail = example, detail


def crash_signature(error: BaseException) -> str:
    """``Type at module.function``, from the innermost frame under controller/ (or the last)."""
    frames = traceback.extract_tb(error.__traceback__)
    inside = [f for f in frames if f"{os.sep}controller{os.sep}" in f.filename]
    frame = (inside or frames or [None])[-1]
    if frame is None:
        return type(error).__name__
    return f"{type(error).__name__} at {_module_of(frame.filename)}.{frame.name}"


def _module_of(filename: str) -> str:
    path = Path(filename)
    try:
        relative = path.resolve().relative_to(_ROOT)
    except ValueError:
        return path.stem
    return ".".join(relative.with_suffix("").parts)


# --- worker --------------------------------------------------------------------------------


class _Worker:
    def __init__(self, args: argparse.Namespace, events: Any) -> None:
        self.args = args
        self.events = events
        self.case_file = open(args.case_file, "w", encoding="utf-8")  # noqa: SIM115

    def emit(self, **event: Any) -> None:
        self.events.write(json.dumps(event) + "\n")
        self.events.flush()

    def mark(self, target: str, index: int, value: Any) -> None:
        """Write the case about to run, for the parent to report if it hangs."""
        self.case_file.seek(0)
        self.case_file.write(json.dumps({"target": target, "index": index, "input": _safe_repr(value)}))
        self.case_file.truncate()
        self.case_file.flush()

    def run(self, targets: Sequence[Target]) -> None:
        start = next((i for i, t in enumerate(targets) if t.name == self.args.start_target), 0)
        for number, target in enumerate(targets[start:]):
            first_chunk = self.args.start_chunk if number == 0 else 0
            self.run_target(target, first_chunk)

    def run_target(self, target: Target, first_chunk: int) -> None:
        smoke = self.args.smoke
        wanted = target.smoke_cases if smoke else self.args.cases
        budget = min(self.args.seconds, SMOKE_SECONDS) if smoke else self.args.seconds
        figures = TargetFigures(target.name)
        began = time.monotonic()
        deadline = began + budget
        chunk = first_chunk
        done = first_chunk * CHUNK if not smoke else 0
        while done < wanted and time.monotonic() < deadline:
            size = wanted if smoke else min(CHUNK, wanted - done)
            self.emit(event="chunk", target=target.name, chunk=chunk, done=done)
            ran = self.run_chunk(target, figures, size, chunk, done, deadline)
            done += ran
            chunk += 1
            if smoke or ran == 0:
                break
        figures.cases = done - (first_chunk * CHUNK if not smoke else 0)
        figures.seconds = time.monotonic() - began
        self.emit(
            event="target_done",
            target=target.name,
            cases=figures.cases,
            seconds=figures.seconds,
            slowest=figures.slowest,
            findings=[vars(f) for f in figures.findings.values()],
        )

    def run_chunk(
        self, target: Target, figures: TargetFigures, size: int, chunk: int, done: int, deadline: float
    ) -> int:
        """Run up to ``size`` cases drawn by one hypothesis run; return how many ran."""
        from hypothesis import HealthCheck, Phase, given, settings
        from hypothesis import seed as with_seed

        ran = 0

        def one(value: Any) -> None:
            nonlocal ran
            if time.monotonic() >= deadline:
                raise _TimeUp
            self.mark(target.name, done + ran, value)
            ran += 1
            self.run_case(target, figures, value)

        profile = settings(
            max_examples=size,
            database=None,
            deadline=None,
            derandomize=self.args.smoke,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
            print_blob=False,
        )
        run = given(target.strategy)(one)
        if not self.args.smoke:
            run = with_seed(_chunk_seed(self.args.seed, target.name, chunk))(run)
        with contextlib.suppress(_TimeUp):  # the time budget is spent: the run ends early, by design
            settings(profile)(run)()
        return ran

    def run_case(self, target: Target, figures: TargetFigures, value: Any) -> None:
        """One case under the hang watchdog; a finding is added to ``figures``."""
        faulthandler.dump_traceback_later(self.args.hang_seconds, exit=True)
        began = time.monotonic()
        try:
            target.check(value)
        except Violation as violation:
            figures.add(f"violation {violation.invariant}", violation.detail, _safe_repr(value))
        except Exception as error:  # a crash: the check lets documented errors through only
            detail = shorten(f"{type(error).__name__}: {error}") + "\n" + _tail(error)
            figures.add(f"crash {crash_signature(error)}", detail, _safe_repr(value))
        finally:
            faulthandler.cancel_dump_traceback_later()
            figures.slowest = max(figures.slowest, time.monotonic() - began)


def _chunk_seed(seed: int, target: str, chunk: int) -> int:
    digest = hashlib.sha256(f"{seed}/{target}/{chunk}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _safe_repr(value: Any) -> str:
    try:
        return shorten(repr(value))
    except RecursionError:  # a self-referencing input
        return f"<{type(value).__name__} too deep to repr>"


def _tail(error: BaseException) -> str:
    frames = traceback.extract_tb(error.__traceback__)[-3:]
    return " <- ".join(f"{_module_of(f.filename)}:{f.lineno} {f.name}" for f in reversed(frames))


# --- parent --------------------------------------------------------------------------------


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--smoke", action="store_true", help="a few seconds: one derandomized chunk per target"
    )
    parser.add_argument("--cases", type=int, default=FULL_CASES, help="cases per target (long mode)")
    parser.add_argument("--seconds", type=float, default=math.inf, help="time cap per target")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--target", action="append", default=[], help="run only these targets")
    parser.add_argument("--hang-seconds", type=float, default=HANG_SECONDS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--start-target", default="", help=argparse.SUPPRESS)
    parser.add_argument("--start-chunk", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--case-file", default="", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(campaign: str, targets: Sequence[Target], argv: Sequence[str] | None = None) -> int:
    """Run ``targets`` as the script's command line says; return the exit status."""
    args = _parse(argv)
    chosen = [t for t in targets if not args.target or t.name in args.target]
    if args.worker:
        events = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
        sys.stdout = sys.stderr  # the code under test never writes into the event stream
        _Worker(args, events).run(chosen)
        return 0
    return _parent(campaign, chosen, args)


def _parent(campaign: str, targets: Sequence[Target], args: argparse.Namespace) -> int:
    script = Path(sys.argv[0]).resolve()
    figures = {t.name: TargetFigures(t.name) for t in targets}
    began = time.monotonic()
    pending = [t.name for t in targets]
    start_chunk = 0
    with tempfile.TemporaryDirectory(prefix="gitcanary-fuzz-") as scratch:
        case_file = Path(scratch) / "case.json"
        while pending:
            command = [
                sys.executable,
                str(script),
                "--worker",
                "--seed", str(args.seed),
                "--cases", str(args.cases),
                "--seconds", str(args.seconds),
                "--hang-seconds", str(args.hang_seconds),
                "--start-target", pending[0],
                "--start-chunk", str(start_chunk),
                "--case-file", str(case_file),
            ]  # fmt: skip
            command += [f"--target={name}" for name in pending]
            if args.smoke:
                command.append("--smoke")
            current, chunk = pending[0], start_chunk
            with subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            ) as worker:
                assert worker.stdout is not None and worker.stderr is not None
                for line in worker.stdout:
                    event = json.loads(line)
                    if event["event"] == "chunk":
                        current, chunk = event["target"], event["chunk"]
                    elif event["event"] == "target_done":
                        _merge(figures[event["target"]], event)
                        pending.remove(event["target"])
                stderr = worker.stderr.read()
                status = worker.wait()
            if status == 0:
                break
            # The worker died in a case: a hang (faulthandler) or a hard crash.
            hung = _read_case(case_file)
            target = figures[hung.get("target", current)]
            kind = "hang" if "Timeout (" in stderr else f"worker died (exit {status})"
            target.add(
                f"{kind} {_dump_signature(stderr)}", shorten(stderr[-1500:], 1500), hung.get("input", "?")
            )
            target.cases = max(target.cases, int(hung.get("index", 0)) + 1)
            if args.smoke:
                pending.remove(target.name)
                start_chunk = 0
            else:
                start_chunk = chunk + 1
    return _report(campaign, args, list(figures.values()), time.monotonic() - began)


def _read_case(path: Path) -> dict[str, Any]:
    try:
        case: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return case


def _merge(figures: TargetFigures, event: dict[str, Any]) -> None:
    figures.cases += int(event["cases"])
    figures.seconds += float(event["seconds"])
    figures.slowest = max(figures.slowest, float(event["slowest"]))
    for raw in event["findings"]:
        finding = figures.findings.setdefault(raw["signature"], Finding(raw["signature"]))
        finding.count += raw["count"]
        if not finding.example or len(raw["example"]) < len(finding.example):
            finding.example, finding.detail = raw["example"], raw["detail"]


def _dump_signature(stderr: str) -> str:
    """The innermost controller/ frame of a faulthandler dump (``at module.function``)."""
    frames = re.findall(r'File "([^"]+)", line \d+ in (\S+)', stderr)
    # faulthandler prints the innermost frame first.
    inside = [f for f in frames if f"{os.sep}controller{os.sep}" in f[0]]
    if not (inside or frames):
        return "(no frame)"
    filename, function = (inside or frames)[0]
    return f"at {_module_of(filename)}.{function}"


def _report(campaign: str, args: argparse.Namespace, figures: list[TargetFigures], elapsed: float) -> int:
    mode = "smoke" if args.smoke else f"long (up to {args.cases} cases per target)"
    print(f"fuzz campaign {campaign}: seed {args.seed}, {mode}")
    print(f"{'target':<20}{'cases':>8}{'crashes':>9}{'signatures':>12}{'seconds':>10}{'slowest s':>11}")
    for item in figures:
        print(
            f"{item.name:<20}{item.cases:>8}{item.crashes:>9}{len(item.findings):>12}"
            f"{item.seconds:>10.1f}{item.slowest:>11.3f}"
        )
    cases = sum(f.cases for f in figures)
    crashes = sum(f.crashes for f in figures)
    signatures = sum(len(f.findings) for f in figures)
    print(f"{'total':<20}{cases:>8}{crashes:>9}{signatures:>12}{elapsed:>10.1f}")
    for item in figures:
        for finding in item.findings.values():
            print(f"\n[{item.name}] {finding.signature} ({finding.count} cases)")
            print(f"  detail: {finding.detail}")
            print(f"  smallest input: {finding.example}")
    result = {
        "campaign": campaign,
        "seed": args.seed,
        "smoke": bool(args.smoke),
        "cases": cases,
        "crashes": crashes,
        "signatures": signatures,
        "seconds": round(elapsed, 1),
        "targets": [
            {
                "name": f.name,
                "cases": f.cases,
                "crashes": f.crashes,
                "signatures": sorted(f.findings),
                "seconds": round(f.seconds, 1),
                "slowest": round(f.slowest, 3),
            }
            for f in figures
        ],
    }
    print("FUZZ-RESULT " + json.dumps(result))
    return 1 if crashes else 0
