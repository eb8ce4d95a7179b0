"""A real ``gitcanary run`` against the Flux sandbox (the one with real Flux controllers).

Mirrors ``tests/integration/operator/conftest.py::controller_process`` but targets
``flux_sandbox``: its kubeconfig, its Prometheus (``GITCANARY_METRICS_SERVER``), a free
``--metrics-addr`` and a private git cache, so nothing is shared with the plain sandbox's
controller or with a developer's ``~/.cache/gitcanary/git``.
"""

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

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def flux_controller_process(
    flux_sandbox: SandboxClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """Start the controller; yield the path of its log; terminate it at module teardown."""
    for part in ("crds", "prometheus", "exporter"):
        flux_sandbox.require(part)
    health = processes.free_port()
    workdir = tmp_path_factory.mktemp("flux-controller")
    log = workdir / "controller.log"
    env = {
        **os.environ,
        "GITCANARY_METRICS_SERVER": flux_sandbox.state.prometheus_url,
        "GITCANARY_GIT_CACHE": str(workdir / "git-cache"),
    }
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "controller.cli.main",
                "run",
                f"--kubeconfig={flux_sandbox.kubeconfig}",
                f"--health=http://127.0.0.1:{health}/healthz",
                f"--metrics-addr=127.0.0.1:{processes.free_port()}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=REPO,
        )
    deadline = time.monotonic() + 60
    while not processes.http_ok(f"http://127.0.0.1:{health}/healthz"):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait(timeout=10)
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
            proc.wait(timeout=10)
