"""Config tracking, crash recovery and the analysis-slot limit, each with its own controller process."""

from __future__ import annotations

import json
import os
import signal
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
from tests.builders import canary, config_map, deployment
from tests.integration.operator.test_canary_lifecycle import _apply, _events, _get, _wait

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def own_namespace(sandbox: SandboxClient) -> Iterator[str]:
    """A namespace outside the session controller's `t-*` pattern, for this module's controllers."""
    name = f"r-{uuid.uuid4().hex[:8]}"
    sandbox.kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        sandbox.kubectl("delete", "namespace", name, "--wait=false", check=False)


@contextmanager
def controller(
    sandbox: SandboxClient, log: Path, namespace: str, *args: str
) -> Iterator[subprocess.Popen[bytes]]:
    port = processes.free_port()
    env = {**os.environ, "GITCANARY_METRICS_SERVER": sandbox.state.prometheus_url}
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "controller.cli.main",
                "run",
                f"--kubeconfig={sandbox.kubeconfig}",
                f"--health=http://127.0.0.1:{port}/healthz",
                f"--metrics-addr=127.0.0.1:{processes.free_port()}",
                *args,
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
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=20)


def _status(sandbox: SandboxClient, ns: str, name: str = "podinfo") -> dict[str, Any]:
    status: dict[str, Any] = _get(sandbox, "canaries.gitcanary.io", ns, name).get("status") or {}
    return status


def test_a_config_map_change_starts_a_new_analysis(
    sandbox: SandboxClient, own_namespace: str, tmp_path: Path
) -> None:
    namespace = own_namespace
    log = tmp_path / "controller.log"
    dep = deployment(namespace, "podinfo", "ghcr.io/stefanprodan/podinfo:6.0.0")
    dep["spec"]["template"]["spec"]["containers"][0]["envFrom"] = [{"configMapRef": {"name": "podinfo-env"}}]
    _apply(
        sandbox,
        config_map(namespace, "podinfo-env", {"COLOR": "blue"}),
        dep,
        canary(namespace, "podinfo", iterations=1, template=None),
    )
    with controller(sandbox, log, namespace):
        _wait("Initialized", lambda: _status(sandbox, namespace).get("phase") == "Initialized", 60, log)
        primary_env = _get(sandbox, "configmap", namespace, "podinfo-env-primary")
        assert primary_env["data"] == {"COLOR": "blue"}
        revision = _status(sandbox, namespace)["lastAppliedSpec"]
        _apply(sandbox, config_map(namespace, "podinfo-env", {"COLOR": "green"}))
        _wait(
            "a new analysis", lambda: _status(sandbox, namespace).get("lastAppliedSpec") != revision, 20, log
        )
        _wait("Succeeded", lambda: _status(sandbox, namespace).get("phase") == "Succeeded", 90, log)
    assert _get(sandbox, "configmap", namespace, "podinfo-env-primary")["data"] == {"COLOR": "green"}
    primary = _get(sandbox, "deployment", namespace, "podinfo-primary")
    assert primary["spec"]["template"]["spec"]["containers"][0]["envFrom"] == [
        {"configMapRef": {"name": "podinfo-env-primary"}}
    ]
    assert _status(sandbox, namespace)["trackedConfigs"].keys() == {"configmap/podinfo-env"}


def test_a_controller_killed_mid_analysis_resumes_to_succeeded(
    sandbox: SandboxClient, own_namespace: str, tmp_path: Path
) -> None:
    namespace = own_namespace
    log = tmp_path / "controller.log"
    _apply(
        sandbox,
        deployment(namespace, "podinfo", "ghcr.io/stefanprodan/podinfo:6.0.0"),
        canary(namespace, "podinfo", iterations=3, template=None),
    )
    with controller(sandbox, log, namespace) as first:
        _wait("Initialized", lambda: _status(sandbox, namespace).get("phase") == "Initialized", 60, log)
        sandbox.kubectl(
            "set",
            "image",
            "-n",
            namespace,
            "deployment/podinfo",
            "podinfod=ghcr.io/stefanprodan/podinfo:6.0.1",
        )
        _wait("iteration 1", lambda: _status(sandbox, namespace).get("iterations", 0) >= 1, 40, log)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    assert _status(sandbox, namespace)["phase"] == "Progressing"
    with controller(sandbox, log, namespace):
        _wait("Succeeded", lambda: _status(sandbox, namespace).get("phase") == "Succeeded", 120, log)
    primary = _get(sandbox, "deployment", namespace, "podinfo-primary")
    assert primary["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":6.0.1")
    events = _events(sandbox, namespace)
    assert events.count(f"Copying podinfo.{namespace} template spec to podinfo-primary.{namespace}") == 1
    assert events.count(f"Promotion completed! Scaling down podinfo.{namespace}") == 1


def test_max_concurrent_canaries_queues_the_rest_in_waiting(
    sandbox: SandboxClient, own_namespace: str, tmp_path: Path
) -> None:
    namespace = own_namespace
    log = tmp_path / "controller.log"
    names = ("alpha", "beta")
    objs: list[dict[str, Any]] = []
    for name in names:
        objs += [
            deployment(namespace, name, "ghcr.io/stefanprodan/podinfo:6.0.0"),
            canary(namespace, name, iterations=2, template=None),
        ]
    _apply(sandbox, *objs)
    with controller(sandbox, log, namespace, "--max-concurrent-canaries=1"):
        for name in names:
            _wait(
                f"{name} Initialized",
                lambda n=name: _status(sandbox, namespace, n).get("phase") == "Initialized",
                60,
                log,
            )
        for name in names:
            sandbox.kubectl(
                "set",
                "image",
                "-n",
                namespace,
                f"deployment/{name}",
                "podinfod=ghcr.io/stefanprodan/podinfo:6.0.1",
            )

        def split() -> tuple[str, ...] | None:
            phases = tuple(sorted(_status(sandbox, namespace, n).get("phase", "") for n in names))
            return phases if phases == ("Progressing", "Waiting") else None

        _wait("one Progressing and one Waiting", split, 30, log)
        waiting = next(n for n in names if _status(sandbox, namespace, n)["phase"] == "Waiting")
        messages = json.loads(sandbox.kubectl("get", "events", "-n", namespace, "-o", "json"))["items"]
        assert any(
            e["involvedObject"]["name"] == waiting and "analysis slot" in e["message"] for e in messages
        )
        for name in names:
            _wait(
                f"{name} Succeeded",
                lambda n=name: _status(sandbox, namespace, n).get("phase") == "Succeeded",
                180,
                log,
            )
