"""`gitcanary loadtester` as a real process: it serves, keeps its gates, and stops on SIGTERM."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from click.testing import CliRunner

from controller.cli.main import main
from controller.loadtester.gates import STATE_FILE

GITCANARY = Path(sys.executable).parent / "gitcanary"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start(state_dir: Path, port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(GITCANARY), "loadtester", "--host=127.0.0.1", f"--port={port}", f"--state-dir={state_dir}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_healthy(base: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[0]
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("the load tester never answered /healthz")


def stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=20)
    assert process.returncode == 0, output
    return output


def test_the_command_serves_keeps_gates_across_restarts_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    body = json.dumps({"name": "podinfo", "namespace": "test", "metadata": {}})
    process = start(tmp_path, port)
    try:
        wait_healthy(base, process)
        assert httpx.post(base + "/gate/check", content=body, timeout=5).status_code == 403
        assert httpx.post(base + "/gate/open", content=body, timeout=5).status_code == 202
    finally:
        output = stop(process)
    assert "load tester listening on 127.0.0.1" in output
    process = start(tmp_path, port)
    try:
        wait_healthy(base, process)
        assert httpx.post(base + "/gate/check", content=body, timeout=5).status_code == 200
    finally:
        stop(process)


def test_a_corrupt_state_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / STATE_FILE).write_text("{")
    result = CliRunner().invoke(main, ["loadtester", f"--state-dir={tmp_path}"])
    assert result.exit_code == 1
    assert "is not JSON" in result.output


def test_bad_options_are_refused() -> None:
    runner = CliRunner()
    for args in (["--timeout=soon"], ["--timeout=0s"], ["--namespace-regexp=("]):
        result = runner.invoke(main, ["loadtester", "--state-dir=/nonexistent", *args])
        assert result.exit_code == 2, (args, result.output)
