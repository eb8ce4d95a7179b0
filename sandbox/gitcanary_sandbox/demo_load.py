"""The demo's traffic: ``gitcanary loadtester`` running ``hey`` for the Canary's rollout webhook.

The load tester runs as a process of the demo with the ``hey`` built from its Go module
(``hey_binary``) on its PATH, and runs only ``hey`` (``--allow-command``). The webhook's command
sends its requests to the sandbox's traffic simulator with the canary Service's host name
(``-host podinfo-canary.<ns>``; the sandbox has no cluster network): the simulator answers them
for the fake pods with the error rate and latency the demo set, and counts them in the metrics
Prometheus scrapes, so the analysis reads what those requests got.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import click

from gitcanary_sandbox import processes
from gitcanary_sandbox.client import SandboxClient
from gitcanary_sandbox.hey_binary import ensure_hey

HEY_ARGS = "-z 1m -q 10 -c 2"
"""Flagger's tutorial load: one minute, 2 workers at 10 requests/s each."""


def load_cmd(namespace: str, exporter_url: str) -> str:
    """The ``hey`` line of the rollout webhook."""
    return f"hey {HEY_ARGS} -host podinfo-canary.{namespace} {exporter_url}/"


def webhook(namespace: str, loadtester_url: str, exporter_url: str) -> dict[str, object]:
    return {
        "name": "load-test",
        "type": "rollout",
        "url": f"{loadtester_url}/",
        "timeout": "5s",
        "metadata": {"type": "cmd", "cmd": load_cmd(namespace, exporter_url)},
    }


def start_loadtester(base: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``gitcanary loadtester`` on a free loopback port; return the process and its URL."""
    hey = ensure_hey(lambda message: click.echo(f"    {message}"))
    port = processes.free_port()
    log = base / "logs" / "demo-loadtester.log"
    env = {**os.environ, "PATH": f"{hey.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "controller.cli.main",
                "loadtester",
                "--host=127.0.0.1",
                f"--port={port}",
                f"--state-dir={base / 'loadtester'}",
                "--allow-command=hey",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    url = f"http://127.0.0.1:{port}"
    svc = processes.Service("demo-loadtester", proc.pid, log)
    processes.wait_until(svc, lambda: processes.http_ok(f"{url}/healthz"), "load tester /healthz", 30)
    return proc, url


def served(client: SandboxClient, namespace: str) -> dict[str, int]:
    """The real requests the simulator answered for the canary workload so far."""
    with urllib.request.urlopen(f"{client.state.exporter_url}/served", timeout=5) as resp:
        counts: dict[str, int] = json.loads(resp.read()).get(f"{namespace}/podinfo", {"ok": 0, "errors": 0})
    return counts


def report(client: SandboxClient, namespace: str, before: dict[str, int]) -> dict[str, int]:
    """Print the line that shows the load tester drove the analysed traffic; return the counts."""
    now = served(client, namespace)
    ok, errors = now["ok"] - before["ok"], now["errors"] - before["errors"]
    click.echo(
        f"    load tester: hey {HEY_ARGS} -> podinfo-canary.{namespace}: {ok + errors} real requests "
        f"answered by the simulated pods, {errors} with HTTP 500"
    )
    if ok + errors == 0:
        raise RuntimeError("the load tester sent no request: the analysis read no real traffic")
    return {"ok": ok, "errors": errors}
