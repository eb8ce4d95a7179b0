"""``gitcanary run`` as a process against the sandbox, limited to some namespaces, until healthy."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gitcanary_sandbox import processes
from gitcanary_sandbox.client import SandboxClient

REPO = Path(__file__).resolve().parents[2]


@contextmanager
def running_controller(sandbox: SandboxClient, log: Path, namespaces: str) -> Iterator[Path]:
    """Start the controller for ``namespaces`` (a ``--namespace`` pattern), with the sandbox's
    Prometheus as its metrics server and its output in ``log``; wait until it is healthy (60 s),
    yield ``log``, then stop it."""
    port = processes.free_port()
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
                f"--namespace={namespaces}",
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
