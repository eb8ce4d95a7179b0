"""A failing alert endpoint never stops a rollback (the real `gitcanary run` on the sandbox).

A canary whose error rate fails its metric carries one AlertProvider whose endpoint either
answers 500 or accepts TCP and never answers (both on 127.0.0.1). The rollback must still reach
Failed with all traffic back on the primary within its usual deadline, and a Warning Event
``AlertFailed`` must name the provider, without the address, after a bounded number of tries.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from gitcanary_sandbox.client import SandboxClient
from tests.builders import canary, deployment, metric_template
from tests.eventually import eventually
from tests.integration.operator.test_canary_lifecycle import _apply, _get, _wait
from tests.recording_http import RecordingServer, Reply, serve_recording
from tests.stalling_http import silent_endpoint

ROLLBACK_DEADLINE_S = 120.0
"""The same bound as a rollback without alerts (test_canary_lifecycle)."""
ALERT_EVENT_DEADLINE_S = 40.0
"""After Failed: 3 tries of at most 5 s each, with 1 s and 2 s of backoff, and margin."""


@contextmanager
def alert_endpoint(kind: str) -> Iterator[tuple[str, RecordingServer | None]]:
    if kind == "answers-500":
        with serve_recording() as server:
            server.reply_with(Reply(status=500, body="<html>\n<h1>upstream down</h1>" + "x" * 4000))
            yield server.url + "/services/T0/B0/s3cr3t", server
    else:
        with silent_endpoint() as url:
            yield url + "/services/T0/B0/s3cr3t", None


def alert_provider(namespace: str, name: str, address: str) -> dict[str, Any]:
    return {
        "apiVersion": "gitcanary.io/v1beta1",
        "kind": "AlertProvider",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"type": "slack", "channel": "on-call", "address": address},
    }


def _canary_events(sandbox: SandboxClient, ns: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads(sandbox.kubectl("get", "events", "-n", ns, "-o", "json"))[
        "items"
    ]
    return [e for e in items if e["involvedObject"]["kind"] == "Canary"]


def _status(sandbox: SandboxClient, ns: str) -> dict[str, Any]:
    status: dict[str, Any] = _get(sandbox, "canaries.gitcanary.io", ns, "podinfo").get("status") or {}
    return status


@pytest.mark.parametrize("endpoint", ["answers-500", "never-answers"])
def test_a_failing_alert_endpoint_does_not_stop_the_rollback(
    sandbox: SandboxClient, namespace: str, controller_process: Path, endpoint: str
) -> None:
    ns, log = namespace, controller_process
    with alert_endpoint(endpoint) as (address, server):
        bad = canary(ns, "podinfo", iterations=2, threshold=2, template="error-rate", max_error=1)
        bad["spec"]["analysis"]["alerts"] = [
            {"name": "on-call", "severity": "error", "providerRef": {"name": "on-call"}}
        ]
        sandbox.set_traffic(ns, "podinfo", rps=20, error_rate=0.0)
        _apply(
            sandbox,
            alert_provider(ns, "on-call", address),
            deployment(ns, "podinfo", "ghcr.io/stefanprodan/podinfo:6.0.0"),
            metric_template(ns, "error-rate", sandbox.state.prometheus_url),
            bad,
        )
        _wait("Initialized", lambda: _status(sandbox, ns).get("phase") == "Initialized", 60, log)
        sandbox.set_traffic(ns, "podinfo", rps=20, error_rate=0.3)
        sandbox.wait_prom_value(
            f'sum(rate(istio_requests_total{{destination_workload_namespace="{ns}",response_code="500"}}[10s]))',
            lambda v: v > 3,
            timeout=30,
        )
        sandbox.kubectl(
            "set", "image", "-n", ns, "deployment/podinfo", "podinfod=ghcr.io/stefanprodan/podinfo:6.0.1"
        )
        changed = time.monotonic()
        _wait("Failed", lambda: _status(sandbox, ns).get("phase") == "Failed", ROLLBACK_DEADLINE_S, log)
        failed_after = time.monotonic() - changed

        status = _status(sandbox, ns)
        assert status["canaryWeight"] == 0
        assert status["engine"]["primaryRouteWeight"] == 100 and status["engine"]["canaryRouteWeight"] == 0
        primary = _get(sandbox, "deployment", ns, "podinfo-primary")
        assert primary["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":6.0.0")
        # the canary is scaled down by the tick after Failed is saved
        eventually(
            "canary scaled to zero",
            lambda: _get(sandbox, "deployment", ns, "podinfo")["spec"]["replicas"] == 0,
        )

        def alert_failed() -> dict[str, Any] | None:
            return next((e for e in _canary_events(sandbox, ns) if e["reason"] == "AlertFailed"), None)

        event = _wait("an AlertFailed Event", alert_failed, ALERT_EVENT_DEADLINE_S, log)
        reported_after = time.monotonic() - changed
        print(
            f"\n{endpoint}: Failed {failed_after:.1f}s after the change, AlertFailed at {reported_after:.1f}s"
        )
        message = event["message"]
        assert event["type"] == "Warning"
        assert message.startswith(f"alert provider {ns}/on-call (slack) failed after 3 tries: "), message
        assert "s3cr3t" not in message and "127.0.0.1" not in message
        if server is not None:
            assert "HTTP 500: <html> <h1>upstream down</h1>xxx" in message
            assert len(message) < 250
            assert len(server.requests) == 3, "one rollback alert, three tries, no more"
        else:
            assert "no answer within 5s" in message
        reasons = [e["reason"] for e in _canary_events(sandbox, ns)]
        assert reasons.count("AlertFailed") == 1
        assert "ReconcileFailed" not in reasons, "no tick was aborted"
    rolling_back = f"Rolling back podinfo.{ns} failed checks threshold reached 2"
    assert rolling_back in [e["message"] for e in _canary_events(sandbox, ns)]
