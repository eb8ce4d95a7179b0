"""A real gitcanary controller process against the sandbox."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitcanary_sandbox import processes
from gitcanary_sandbox.client import SandboxClient

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def controller_process(sandbox: SandboxClient, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    sandbox.require("crds")
    sandbox.require("prometheus")
    port = processes.free_port()
    log = tmp_path_factory.mktemp("controller") / "controller.log"
    env = {**os.environ, "GITCANARY_METRICS_SERVER": sandbox.state.prometheus_url}
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
                # Only the `namespace` fixture's namespaces: tests that run their own controller
                # (test_resilience.py) use other names, so two controllers never share a Canary.
                "--namespace=t-*",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=REPO,
        )
    deadline = time.monotonic() + 60
    while not processes.http_ok(f"http://127.0.0.1:{port}/healthz"):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"controller did not become healthy:\n{processes.log_tail(log, 60)}")
        time.sleep(0.3)
    try:
        yield log
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
