"""Operator commands against the sandbox: ``status -w``, ``retry`` and ``restart`` through the real
controller process, and the CLI as a kubectl plugin (the sandbox's own kubectl)."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from controller.cli.main import main
from controller.cli.ops import RESTARTED_AT
from controller.reconcile.retry_request import RETRY_ANNOTATION
from gitcanary_sandbox.binaries import kube_bin_dir
from gitcanary_sandbox.client import SandboxClient
from tests.builders import canary, deployment, metric_template
from tests.integration.operator.test_canary_lifecycle import _apply, _get, _wait

REPO = Path(__file__).resolve().parents[2]
CANARIES = "canaries.gitcanary.io"


def _cli(sandbox: SandboxClient, *args: str) -> Result:
    return CliRunner().invoke(main, [*args, "--kubeconfig", str(sandbox.kubeconfig)])


def _status(sandbox: SandboxClient, ns: str, name: str = "podinfo") -> dict[str, Any]:
    return _get(sandbox, CANARIES, ns, name).get("status") or {}


def _events(sandbox: SandboxClient, ns: str) -> list[tuple[str, str]]:
    items = json.loads(sandbox.kubectl("get", "events", "-n", ns, "-o", "json"))["items"]
    return [(e["reason"], e["message"]) for e in items if e["involvedObject"]["kind"] == "Canary"]


def test_the_cli_runs_as_a_kubectl_plugin(tmp_path: Path) -> None:
    venv_bin = Path(sys.executable).parent
    assert (venv_bin / "kubectl-gitcanary").exists(), "pip install -e . installs the kubectl plugin"
    env = {**os.environ, "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}"}
    env["KUBECONFIG"] = str(tmp_path / "none")  # --version needs no cluster
    kubectl = str(kube_bin_dir() / "kubectl")
    version = subprocess.run(
        [kubectl, "gitcanary", "--version"], env=env, capture_output=True, text=True, timeout=60
    )
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("gitcanary 0.")
    assert "(Python 3." in version.stdout
    listed = subprocess.run([kubectl, "plugin", "list"], env=env, capture_output=True, text=True, timeout=60)
    assert str(venv_bin / "kubectl-gitcanary") in listed.stdout


# -- status -w --------------------------------------------------------------------------------


class Watcher:
    """``gitcanary status -w`` as a process; its stdout lines arrive in a queue as written."""

    def __init__(self, sandbox: SandboxClient, namespace: str, timeout: float) -> None:
        argv = [sys.executable, "-m", "controller.cli.main", "status", "-w", "--timeout", str(timeout)]
        self.proc = subprocess.Popen(
            [*argv, "-n", namespace, "--kubeconfig", str(sandbox.kubeconfig)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        self.lines: queue.Queue[tuple[float, str]] = queue.Queue()
        self.errors: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        # stderr is drained as it is written too: a pipe nobody reads fills up and blocks the
        # process on its next write, so that it could not even exit on Ctrl-C.
        self.error_reader = threading.Thread(target=self._read_errors, daemon=True)
        self.error_reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put((time.monotonic(), line.rstrip("\n")))

    def _read_errors(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.errors.append(line)

    def table(
        self, wanted: Callable[[list[list[str]]], bool], timeout: float = 20
    ) -> tuple[float, list[list[str]]]:
        """The first table drawn whose rows (split into cells) satisfy ``wanted``, and when its
        last row arrived (monotonic time). Tables before it are skipped."""
        deadline = time.monotonic() + timeout
        seen: list[str] = []
        rows: list[list[str]] | None = None
        while time.monotonic() < deadline:
            try:
                at, line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            seen.append(line)
            if line.split()[:3] == ["NAMESPACE", "NAME", "STATUS"]:
                rows = []
            elif line.strip() and rows is not None:
                rows.append(line.split())
            elif not line.strip() and rows is not None:
                if wanted(rows):
                    return at, rows
                rows = None
        raise AssertionError(f"no such table within {timeout}s; output: {seen}")


@pytest.fixture
def quiet_namespace(sandbox: SandboxClient) -> Iterator[str]:
    """A namespace no controller watches (the session controller takes ``t-*`` only)."""
    name = f"w-{uuid.uuid4().hex[:8]}"
    sandbox.kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        sandbox.kubectl("delete", "namespace", name, "--wait=false", check=False)


def _patch_status(sandbox: SandboxClient, ns: str, name: str, status: dict[str, Any]) -> None:
    sandbox.kubectl(
        "patch", CANARIES, name, "-n", ns, "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": status}),
    )  # fmt: skip


def test_status_watch_shows_each_change_at_once(sandbox: SandboxClient, quiet_namespace: str) -> None:
    ns = quiet_namespace
    sandbox.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(canary(ns, "web", step_weight=10)))
    watcher = Watcher(sandbox, ns, timeout=120)
    try:
        _, rows = watcher.table(lambda rows: True)  # the first table, from the list
        assert rows == [[ns, "web", "-", "0", "0", "0", "-", "-", "-"]]  # ...FAILED INCONCLUSIVE...
        delays = []
        for phase, weight in (("Progressing", 10), ("Progressing", 20), ("Failed", 0)):
            patched = time.monotonic()
            _patch_status(sandbox, ns, "web", {"phase": phase, "canaryWeight": weight})
            at, _ = watcher.table(lambda rows, p=phase, w=weight: rows[0][2:4] == [p, str(w)])
            delays.append(at - patched)
        print(f"status -w: a status change was drawn after {', '.join(f'{d:.3f}s' for d in delays)}")
        assert max(delays) < 2.0, delays

        sandbox.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(canary(ns, "api", step_weight=10)))
        watcher.table(lambda rows: [r[1] for r in rows] == ["api", "web"])
        sandbox.kubectl("delete", CANARIES, "web", "-n", ns)
        watcher.table(lambda rows: [r[1] for r in rows] == ["api"])

        watcher.proc.send_signal(signal.SIGINT)  # Ctrl-C
        assert watcher.proc.wait(timeout=30) == 0, "".join(watcher.errors)[-3000:]
        watcher.error_reader.join(timeout=10)  # everything it wrote, up to its exit
        assert "Traceback" not in "".join(watcher.errors)
    finally:
        if watcher.proc.poll() is None:
            watcher.proc.kill()


def test_status_watch_stops_at_its_timeout(sandbox: SandboxClient, quiet_namespace: str) -> None:
    started = time.monotonic()
    watcher = Watcher(sandbox, quiet_namespace, timeout=3)
    assert watcher.proc.wait(timeout=30) == 0
    elapsed = time.monotonic() - started
    assert 3 <= elapsed < 10, elapsed
    _, rows = watcher.table(lambda rows: True)
    assert rows == []  # an empty table, then the end


# -- retry and restart, through the controller process -------------------------------------------


def test_retry_analyses_a_failed_revision_again(
    sandbox: SandboxClient, namespace: str, controller_process: Path
) -> None:
    ns, log = namespace, controller_process
    # A metric that fails every check until the MetricTemplate is fixed (not a new revision).
    _apply(
        sandbox,
        deployment(ns, "podinfo", "ghcr.io/stefanprodan/podinfo:6.0.0"),
        metric_template(ns, "errors", sandbox.state.prometheus_url, query="vector(100)"),
        canary(ns, "podinfo", iterations=2, threshold=3, template="errors", max_error=1),
    )
    _wait("Initialized", lambda: _status(sandbox, ns).get("phase") == "Initialized", 60, log)
    sandbox.kubectl(
        "set", "image", "-n", ns, "deployment/podinfo", "podinfod=ghcr.io/stefanprodan/podinfo:6.0.1"
    )
    _wait("Progressing", lambda: _status(sandbox, ns).get("phase") == "Progressing", 60, log)

    refused = _cli(sandbox, "retry", f"{ns}/podinfo")
    assert refused.exit_code == 2, refused.output
    assert "the canary is Progressing: only a Failed canary can be retried" in refused.output
    assert RETRY_ANNOTATION not in _annotations(sandbox, ns)

    _wait("Failed", lambda: _status(sandbox, ns).get("phase") == "Failed", 90, log)
    failed_revision = _status(sandbox, ns)["lastAppliedSpec"]
    _apply(sandbox, metric_template(ns, "errors", sandbox.state.prometheus_url, query="vector(0)"))
    # Fixing the metric is no new revision: the canary stays Failed by itself.
    time.sleep(12)
    assert _status(sandbox, ns)["phase"] == "Failed"

    retried = _cli(sandbox, "retry", "podinfo", "-n", ns)
    assert retried.exit_code == 0, retried.output
    assert f"{ns}/podinfo: {RETRY_ANNOTATION}=requested" in retried.output
    _wait("Progressing again", lambda: _status(sandbox, ns).get("phase") == "Progressing", 30, log)
    assert _status(sandbox, ns)["lastAppliedSpec"] == failed_revision
    _wait(
        "the retry request to be removed", lambda: RETRY_ANNOTATION not in _annotations(sandbox, ns), 20, log
    )
    _wait("Succeeded", lambda: _status(sandbox, ns).get("phase") == "Succeeded", 120, log)
    primary = _get(sandbox, "deployment", ns, "podinfo-primary")
    assert primary["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":6.0.1")
    events = _events(sandbox, ns)
    retry_event = (
        f"Retrying the analysis of revision {failed_revision} (requested by annotation {RETRY_ANNOTATION})"
    )
    assert ("Retry", retry_event) in events, events

    again = _cli(sandbox, "retry", f"{ns}/podinfo")
    assert again.exit_code == 2 and "the canary is Succeeded" in again.output, again.output


def _annotations(sandbox: SandboxClient, ns: str) -> dict[str, str]:
    return _get(sandbox, CANARIES, ns, "podinfo")["metadata"].get("annotations") or {}


def _pods(sandbox: SandboxClient, ns: str, app: str) -> dict[str, dict[str, Any]]:
    items = json.loads(sandbox.kubectl("get", "pods", "-n", ns, "-l", f"app={app}", "-o", "json"))["items"]
    return {p["metadata"]["name"]: p for p in items if not p["metadata"].get("deletionTimestamp")}


def _ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _ready_pods(
    sandbox: SandboxClient, ns: str, replaced: dict[str, Any] | None = None
) -> dict[str, dict[str, Any]] | None:
    """The primary's 2 pods when all are ready and none of ``replaced`` is among them."""
    pods = _pods(sandbox, ns, "podinfo-primary")
    if len(pods) != 2 or set(pods) & set(replaced or {}) or not all(map(_ready, pods.values())):
        return None
    return pods


def test_restart_rolls_the_primary_pods_only(
    sandbox: SandboxClient, namespace: str, controller_process: Path
) -> None:
    ns, log = namespace, controller_process
    _apply(
        sandbox,
        deployment(ns, "podinfo", "ghcr.io/stefanprodan/podinfo:6.0.0"),
        canary(ns, "podinfo", iterations=2, template=None),
    )
    _wait("Initialized", lambda: _status(sandbox, ns).get("phase") == "Initialized", 60, log)
    before = _wait("two ready primary pods", lambda: _ready_pods(sandbox, ns), 60, log)
    revision = _status(sandbox, ns)["lastAppliedSpec"]

    started = time.monotonic()
    result = _cli(sandbox, "restart", "podinfo", "-n", ns)
    assert result.exit_code == 0, result.output
    assert f"deployment/podinfo-primary restarted ({ns}/podinfo)" in result.output
    primary = _get(sandbox, "deployment", ns, "podinfo-primary")
    stamp = primary["spec"]["template"]["metadata"]["annotations"][RESTARTED_AT]
    assert stamp.endswith("Z")

    after = _wait("the primary's pods to be replaced", lambda: _ready_pods(sandbox, ns, before), 90, log)
    print(f"restart: the primary's 2 pods were replaced in {time.monotonic() - started:.1f}s")
    assert all(p["metadata"]["annotations"][RESTARTED_AT] == stamp for p in after.values())

    # No new revision: the canary is not analysed, the target is untouched, and the controller's
    # next ticks leave the restart annotation in place.
    time.sleep(12)
    assert _status(sandbox, ns)["phase"] == "Initialized"
    assert _status(sandbox, ns)["lastAppliedSpec"] == revision
    target = _get(sandbox, "deployment", ns, "podinfo")
    assert RESTARTED_AT not in (target["spec"]["template"]["metadata"].get("annotations") or {})
    primary = _get(sandbox, "deployment", ns, "podinfo-primary")
    assert primary["spec"]["template"]["metadata"]["annotations"][RESTARTED_AT] == stamp

    missing = _cli(sandbox, "restart", f"{ns}/nothing-here")
    assert missing.exit_code == 2 and f"Canary {ns}/nothing-here not found" in missing.output
