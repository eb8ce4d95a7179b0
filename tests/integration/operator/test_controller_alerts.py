"""Controller-wide alerting through the real `gitcanary run` on the sandbox.

The controller runs with `--slack-url` pointing at a local fake Slack (a real HTTP server on
127.0.0.1), `--slack-channel`, `--cluster-name`, and the event webhook from the environment
(`GITCANARY_EVENT_WEBHOOK`, as the chart's Secret sets it). A Canary without `analysis.alerts`
initializes: the default alert receives Flagger's Slack payload with the cluster as first field,
and the event webhook receives the Canary's Events as Flagger's event-webhook payload.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from gitcanary_sandbox import processes
from gitcanary_sandbox.client import SandboxClient
from tests.builders import canary, deployment
from tests.integration.operator.test_canary_lifecycle import _apply, _get, _wait
from tests.recording_http import RecordingServer, serve_recording

REPO = Path(__file__).resolve().parents[3]
Obj = dict[str, Any]


@pytest.fixture
def own_namespace(sandbox: SandboxClient) -> Iterator[str]:
    name = f"ga-{uuid.uuid4().hex[:8]}"
    sandbox.kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        sandbox.kubectl("delete", "namespace", name, "--wait=false", check=False)


def _start(sandbox: SandboxClient, log: Path, slack: str, events: str) -> subprocess.Popen[bytes]:
    port = processes.free_port()
    env = {
        **os.environ,
        "GITCANARY_METRICS_SERVER": sandbox.state.prometheus_url,
        "GITCANARY_EVENT_WEBHOOK": events,
    }
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
                "--namespace=ga-*",
                f"--slack-url={slack}",
                "--slack-channel=deploys",
                "--cluster-name=sandbox-eu",
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
    return proc


def _bodies(server: RecordingServer) -> list[Obj]:
    return [cast(Obj, r.json()) for r in list(server.requests)]


def test_a_canary_without_alerts_gets_the_default_alert_and_events_reach_the_webhook(
    sandbox: SandboxClient, own_namespace: str, tmp_path: Path
) -> None:
    sandbox.require("crds")
    ns, log = own_namespace, tmp_path / "controller.log"
    with serve_recording() as slack, serve_recording() as events:
        proc = _start(sandbox, log, slack.url + "/services/T0/B0/s3cr3t", events.url + "/events")
        try:
            plain = canary(ns, "podinfo", iterations=2, template=None)
            assert "alerts" not in plain["spec"]["analysis"]
            _apply(sandbox, deployment(ns, "podinfo", "ghcr.io/stefanprodan/podinfo:6.0.0"), plain)
            _wait(
                "Initialized",
                lambda: (
                    (_get(sandbox, "canaries.gitcanary.io", ns, "podinfo").get("status") or {}).get("phase")
                    == "Initialized"
                ),
                60,
                log,
            )

            def initialized_alert() -> Obj | None:
                texts = {b["attachments"][0]["text"]: b for b in _bodies(slack)}
                return texts.get("New Deployment detected, initialization completed.")

            alert = _wait("the default alert", initialized_alert, 30, log)
            assert {r.path for r in slack.requests} == {"/services/T0/B0/s3cr3t"}
            assert (alert["channel"], alert["username"]) == ("deploys", "gitcanary")
            attachment = alert["attachments"][0]
            assert attachment["author_name"] == f"podinfo.{ns}"
            assert attachment["fields"][:2] == [
                {"title": "Cluster", "value": "sandbox-eu", "short": False},
                {"title": "Target", "value": f"Deployment/podinfo.{ns}", "short": False},
            ]

            def initialized_event() -> Obj | None:
                return next(
                    (
                        b
                        for b in _bodies(events)
                        if b["metadata"]["eventMessage"].startswith("Initialization done")
                    ),
                    None,
                )

            event = _wait("the Initialization done Event on the event webhook", initialized_event, 30, log)
            assert (event["name"], event["namespace"]) == ("podinfo", ns)
            assert event["metadata"]["eventType"] == "Normal"
            assert event["metadata"]["timestamp"].isdigit()
            assert {r.path for r in events.requests} == {"/events"}
            recorded = sandbox.kubectl("get", "events", "-n", ns, "-o", "jsonpath={.items[*].message}")
            assert event["metadata"]["eventMessage"] in recorded, "the same Event the API server holds"
            assert "AlertFailed" not in sandbox.kubectl("get", "events", "-n", ns)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
    assert "s3cr3t" not in log.read_text(), "the hook URL never reaches the log"
