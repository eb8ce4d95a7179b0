"""A Git remote that accepts TCP and never answers stops no analysis (issue 9).

Real parts: the sandbox apiserver with the upstream Flux CRDs, and a ``gitcanary run`` process of
this test's own, started like the shipped image runs it: its PATH holds git and nothing else, so
there is no ``ps`` or ``pgrep`` (python:3.11-slim has no procps). The remote is a loopback socket
that completes the TCP handshake and never sends a byte (``tests/stalling_http.py``).

Both Canaries write back to that remote through a GitRepository in their own namespace
(``spec.gitops.sourceRef``). ``first`` is promoted and its write-back hangs. ``second`` is promoted
too (its promotion also waits for Git), and then analyses a new revision: while both write-backs
hang, its iterations must still advance at its interval. Before the fix, every tick of a Canary
with pending intents awaited the write-back under the repository's lock, and GitPython could not
kill git's remote helper without procps, so the analysis stopped.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from gitcanary_sandbox import processes
from gitcanary_sandbox.client import SandboxClient
from tests.builders import canary, deployment
from tests.integration.operator.test_canary_lifecycle import _apply, _get, _wait
from tests.process_table import kill_leftovers
from tests.stalling_http import silent_endpoint

REPO = Path(__file__).resolve().parents[3]
IMAGE = "ghcr.io/stefanprodan/podinfo:{}"
INTERVAL_S = 10  # the shortest analysis interval (as Flagger)
ITERATIONS = 3
GIT_TIMEOUT_S = 30  # controller.gitops.plumbing.repo.DEFAULT_TIMEOUT_S: one fetch against the hung remote
EVENT_BOUND_S = 2 * 4 * GIT_TIMEOUT_S + 30
"""When the first WriteBackTimedOut Event must be there: both Canaries write back through one
repository lane, in either order, and each call is bounded by the write-back's total deadline
(``repo.WriteBackRepo.total_timeout_s``: 4 x the per-command timeout), plus slack."""


@pytest.fixture
def own_namespace(sandbox: SandboxClient) -> Iterator[str]:
    """Outside the session controller's ``t-*`` pattern: only this test's controller acts here."""
    name = f"h-{uuid.uuid4().hex[:8]}"
    sandbox.kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        sandbox.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def hung_remote() -> Iterator[str]:
    with silent_endpoint() as base:
        url = f"{base}/fleet.git"
        try:
            yield url
        finally:
            kill_leftovers(url)


@contextmanager
def controller_without_procps(sandbox: SandboxClient, tmp_path: Path, namespace: str) -> Iterator[Path]:
    """``gitcanary run`` for ``namespace`` with PATH = one directory holding only ``git``."""
    git = shutil.which("git")
    assert git is not None
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "git").symlink_to(git)
    env = {
        **os.environ,
        "PATH": str(bin_dir),
        "GITCANARY_METRICS_SERVER": sandbox.state.prometheus_url,
        "GITCANARY_GIT_CACHE": str(tmp_path / "git-cache"),
    }
    log = tmp_path / "controller.log"
    port = processes.free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "controller.cli.main",
                "run",
                f"--kubeconfig={sandbox.kubeconfig}",
                f"--health=http://127.0.0.1:{port}/healthz",
                f"--metrics-addr=127.0.0.1:{processes.free_port()}",
                f"--namespace={namespace}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=REPO,
        )
    try:
        deadline = time.monotonic() + 60
        while not processes.http_ok(f"http://127.0.0.1:{port}/healthz"):
            assert proc.poll() is None and time.monotonic() < deadline, processes.log_tail(log, 40)
            time.sleep(0.3)
        yield log
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _status(sandbox: SandboxClient, ns: str, name: str) -> dict[str, Any]:
    status: dict[str, Any] = _get(sandbox, "canaries.gitcanary.io", ns, name).get("status") or {}
    return status


def _gitops(sandbox: SandboxClient, ns: str, name: str) -> dict[str, Any]:
    gitops: dict[str, Any] = _status(sandbox, ns, name).get("gitops") or {}
    return gitops


def _events(sandbox: SandboxClient, ns: str, name: str, reason: str) -> list[str]:
    items = json.loads(sandbox.kubectl("get", "events", "-n", ns, "-o", "json"))["items"]
    return [e["message"] for e in items if e["involvedObject"]["name"] == name and e["reason"] == reason]


def _git_source(ns: str, url: str) -> dict[str, Any]:
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": "fleet", "namespace": ns},
        "spec": {"interval": "1m", "url": url, "ref": {"branch": "main"}},
    }


def _canary(ns: str, name: str, iterations: int) -> dict[str, Any]:
    obj = canary(ns, name, iterations=iterations, template=None, interval=f"{INTERVAL_S}s")
    obj["spec"]["gitops"] = {"sourceRef": {"name": "fleet"}}
    return obj


def _set_image(sandbox: SandboxClient, ns: str, name: str, tag: str) -> None:
    sandbox.kubectl("set", "image", "-n", ns, f"deployment/{name}", f"podinfod={IMAGE.format(tag)}")


def _promoted_with_pending_write_back(sandbox: SandboxClient, ns: str, name: str, log: Path) -> None:
    _wait(
        f"{name} Succeeded with its promotion pending for Git",
        lambda: (
            _status(sandbox, ns, name).get("phase") == "Succeeded"
            and _gitops(sandbox, ns, name).get("pending")
        ),
        90,
        log,
    )


def test_a_hung_remote_leaves_intents_pending_and_another_canary_on_time(
    sandbox: SandboxClient, own_namespace: str, hung_remote: str, tmp_path: Path
) -> None:
    sandbox.require("crds")
    ns = own_namespace
    _apply(
        sandbox,
        _git_source(ns, hung_remote),
        deployment(ns, "first", IMAGE.format("6.0.0")),
        deployment(ns, "second", IMAGE.format("6.0.0")),
        _canary(ns, "first", iterations=1),
        _canary(ns, "second", iterations=1),
    )
    with controller_without_procps(sandbox, tmp_path, ns) as log:
        for name in ("first", "second"):
            _wait(
                f"{name} Initialized",
                lambda n=name: _status(sandbox, ns, n).get("phase") == "Initialized",
                60,
                log,
            )
        for name in ("first", "second"):
            _set_image(sandbox, ns, name, "6.0.1")
        for name in ("first", "second"):
            _promoted_with_pending_write_back(sandbox, ns, name, log)
        git_hung_since = time.monotonic()

        # A new revision of `second`, analysed while both write-backs to the remote hang.
        _apply(sandbox, _canary(ns, "second", iterations=ITERATIONS))
        _set_image(sandbox, ns, "second", "6.0.2")
        _wait(
            "second Progressing",
            lambda: _status(sandbox, ns, "second").get("phase") == "Progressing",
            30,
            log,
        )
        started = last_change = time.monotonic()
        seen, gaps = 0, []
        while seen < ITERATIONS:
            iterations = _status(sandbox, ns, "second").get("iterations", 0)
            now = time.monotonic()
            assert now - started < ITERATIONS * INTERVAL_S + 15, (
                f"the analysis of `second` stalled at iteration {seen}\n" + processes.log_tail(log, 40)
            )
            if iterations > seen:
                gaps.append(round(now - last_change, 1))
                seen, last_change = iterations, now
            time.sleep(0.2)
        assert max(gaps) < INTERVAL_S + 5, f"iterations advanced after {gaps}s"
        _wait("second Succeeded", lambda: _status(sandbox, ns, "second").get("phase") == "Succeeded", 90, log)

        # Git never answered: every intent is still pending, nothing was written.
        for name in ("first", "second"):
            gitops = _gitops(sandbox, ns, name)
            assert gitops.get("pending"), gitops
            assert (gitops.get("lastWriteBack") or {}).get("result") in (None, "error"), gitops
        assert len(_gitops(sandbox, ns, "second")["pending"]) == 2, "both promotions of `second` wait"

        # When the git deadline passes, the write-back says so, and the intents stay pending.
        timed_out = _wait(
            "a WriteBackTimedOut Event",
            lambda: _events(sandbox, ns, "first", "WriteBackTimedOut"),
            max(5.0, EVENT_BOUND_S - (time.monotonic() - git_hung_since)),
            log,
        )
        assert "timed out after" in timed_out[0] and hung_remote.split("//")[1] in timed_out[0], timed_out
        last = _gitops(sandbox, ns, "first")["lastWriteBack"]
        assert last["result"] == "error" and "timed out" in last["message"], last
        assert _gitops(sandbox, ns, "first")["pending"]
