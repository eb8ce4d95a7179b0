"""The bad-input table, controller half: hostile backends against the real ``gitcanary run``.

Every row is a Canary in one namespace whose metrics or webhooks point at a loopback server
that misbehaves on purpose (``tests/hostile_http.py``): a Prometheus answering 500 or
malformed JSON, a sample of +Inf or NaN (from a template and from the built-in
``request-duration``), a webhook that never answers, and a 100 MB answer. Each must end in
``Failed`` with the primary kept on the old image (the decision is made, not lost), with a
clear Event that carries at most a short printable fragment of the answer, and without a
crash or a stuck tick. Two more rows must stop at ``Valid=False`` without any rollback: a
MetricTemplate whose provider type the controller cannot query, and a webhook aimed at the
cloud metadata address. docs/bad-input.md lists the rows and what each one gives.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gitcanary_sandbox.client import SandboxClient
from tests.builders import canary, deployment, metric_template
from tests.hostile_http import HostileServer, serve_hostile
from tests.integration.operator.test_canary_lifecycle import _apply, _get, _wait

OLD, NEW = "ghcr.io/stefanprodan/podinfo:6.0.0", "ghcr.io/stefanprodan/podinfo:6.0.1"


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    with serve_hostile() as server:
        yield server


@dataclass(frozen=True)
class Row:
    name: str
    mode: str
    """The hostile server's behaviour (first path segment)."""
    kind: str
    """``template``: a MetricTemplate on the server; ``builtin``: spec.metricsServer on the server
    with the built-in request-duration; ``webhook``: a rollout webhook on the server."""
    event: str
    """Text the Halt Event must contain."""


ROLLBACK_ROWS = (
    Row("prom-500", "status-500", "template", "Metric query failed for prom-500: error response 500: "),
    Row("prom-malformed", "malformed", "template", "error unmarshaling result"),
    Row("prom-inf", "value-+Inf", "template", "prom-inf returned +Inf (not a finite number)"),
    Row("prom-nan", "value-NaN", "template", "no values found for custom metric: prom-nan"),
    Row("duration-inf", "value-+Inf", "builtin", "request-duration returned +Inf (not a finite number)"),
    # no answer is not a verdict (issue 16): inconclusive, counted toward the threshold as Flagger does
    Row("hook-hang", "hang", "webhook", "webhook hook-hang inconclusive (timeout): timeout after 2s"),
    Row("hook-huge", "huge", "webhook", "webhook hook-huge inconclusive (malformed): response is larger than"),
)


def _canary_for(ns: str, row: Row, base: str) -> list[dict[str, Any]]:
    url = f"{base}/{row.mode}"
    objs: list[dict[str, Any]] = [deployment(ns, row.name, OLD)]
    if row.kind == "template":
        objs.append(metric_template(ns, row.name, url, query='sum(x{app="{{ target }}"})'))
        objs.append(canary(ns, row.name, iterations=3, threshold=2, template=row.name, max_error=1))
        return objs
    spec = canary(ns, row.name, iterations=3, threshold=2, template=None)
    analysis = spec["spec"]["analysis"]
    if row.kind == "builtin":
        spec["spec"]["metricsServer"] = url
        analysis["metrics"] = [
            {"name": "request-duration", "thresholdRange": {"max": 500}, "interval": "10s"}
        ]
    else:
        analysis["webhooks"] = [{"name": row.name, "type": "rollout", "url": url, "timeout": "2s"}]
    return [*objs, spec]


def _status(sandbox: SandboxClient, ns: str, name: str) -> dict[str, Any]:
    return _get(sandbox, "canaries.gitcanary.io", ns, name).get("status") or {}


def _events_of(sandbox: SandboxClient, ns: str, name: str) -> list[str]:
    items = json.loads(sandbox.kubectl("get", "events", "-n", ns, "-o", "json"))["items"]
    return [
        e["message"]
        for e in items
        if e["involvedObject"]["kind"] == "Canary" and e["involvedObject"]["name"] == name
    ]


def _valid_false(sandbox: SandboxClient, ns: str, name: str) -> dict[str, Any] | None:
    conditions = _status(sandbox, ns, name).get("conditions") or []
    return next((c for c in conditions if c["type"] == "Valid" and c["status"] == "False"), None)


def test_hostile_backends_fail_their_checks_and_the_rollback_still_happens(
    sandbox: SandboxClient, namespace: str, controller_process: Path, hostile: HostileServer
) -> None:
    ns = namespace
    for row in ROLLBACK_ROWS:
        _apply(sandbox, *_canary_for(ns, row, hostile.url))
    for row in ROLLBACK_ROWS:
        _wait(
            f"{row.name} Initialized",
            lambda row=row: _status(sandbox, ns, row.name).get("phase") == "Initialized",  # type: ignore[misc]
            90,
            controller_process,
        )
    for row in ROLLBACK_ROWS:
        sandbox.kubectl("set", "image", "-n", ns, f"deployment/{row.name}", f"podinfod={NEW}")
    for row in ROLLBACK_ROWS:
        _wait(
            f"{row.name} Failed",
            lambda row=row: _status(sandbox, ns, row.name).get("phase") == "Failed",  # type: ignore[misc]
            180,
            controller_process,
        )
    for row in ROLLBACK_ROWS:
        primary = _get(sandbox, "deployment", ns, f"{row.name}-primary")
        assert primary["spec"]["template"]["spec"]["containers"][0]["image"] == OLD, row.name
        events = _events_of(sandbox, ns, row.name)
        halts = [e for e in events if row.event in e]
        assert halts, (row.name, events)
        for message in halts:
            assert message.isprintable(), message
            assert "z" * 200 not in message and "\x1b" not in message, message
        assert f"Rolling back {row.name}.{ns} failed checks threshold reached 2" in events, (row.name, events)
    assert "OverflowError" not in controller_process.read_text(errors="replace")


def test_unservable_template_and_metadata_webhook_stop_at_valid_false(
    sandbox: SandboxClient, namespace: str, controller_process: Path
) -> None:
    ns = namespace
    template = metric_template(ns, "latency", "http://unused:9090")
    template["spec"]["provider"] = {"type": "prometheus"}  # no address: nothing to query
    ssrf = canary(ns, "ssrf", iterations=3, threshold=2, template=None)
    ssrf["spec"]["analysis"]["webhooks"] = [
        {"name": "steal", "type": "rollout", "url": "http://169.254.169.254/latest/meta-data/iam/"}
    ]
    _apply(
        sandbox,
        deployment(ns, "cloudy", OLD),
        deployment(ns, "ssrf", OLD),
        template,
        canary(ns, "cloudy", iterations=3, threshold=2, template="latency", max_error=1),
        ssrf,
    )
    cloudy = _wait("cloudy Valid=False", lambda: _valid_false(sandbox, ns, "cloudy"), 60, controller_process)
    assert "MetricTemplate" in cloudy["message"] and "address: required for prometheus" in cloudy["message"]
    stolen = _wait("ssrf Valid=False", lambda: _valid_false(sandbox, ns, "ssrf"), 60, controller_process)
    assert "169.254.169.254 is link-local or a metadata address" in stolen["message"]
    for name in ("cloudy", "ssrf"):
        assert _status(sandbox, ns, name).get("phase") not in ("Failed", "Progressing"), name
        assert not any("Rolling back" in e for e in _events_of(sandbox, ns, name)), name
