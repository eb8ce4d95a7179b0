"""The bad-input table, validator half: each row is rejected with a clear message, no crash.

The rows that need a running controller (a Prometheus answering 500 or malformed JSON, a
hanging webhook, a 100 MB answer, NaN and Inf results) are in
tests/integration/operator/test_bad_input_controller.py; docs/bad-input.md lists both.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from controller.api import validate_alert_provider, validate_canary, validate_metric_template
from controller.api.validation import MAX_WEBHOOK_RETRIES
from controller.cli.main import main
from controller.outbound import MAX_RETRIES
from tests.builders import canary

Build = Callable[..., dict[str, Any]]
HOOK = {"name": "load", "url": "http://loadtester.test/"}
FOUR_HUNDRED_DIGITS = "1" * 400

CANARY_ROWS: list[tuple[str, dict[str, Any], str]] = [
    ("0s interval", {"analysis": {"interval": "0s"}}, "spec.analysis.interval: must be positive, got '0s'"),
    ("threshold 0", {"analysis": {"threshold": 0}}, "spec.analysis.threshold: must be greater than 0, got 0"),
    (
        "threshold 1e12",
        {"analysis": {"threshold": 10**12}},
        "spec.analysis.threshold: must be at most 100, got 1000000000000",
    ),
    (
        "stepWeight 0",
        {"analysis": {"stepWeight": 0}},
        "spec.analysis.stepWeight: must be between 1 and 100, got 0",
    ),
    (
        "maxWeight 1000",
        {"analysis": {"maxWeight": 1000}},
        "spec.analysis.maxWeight: must be between 1 and 100, got 1000",
    ),
    (
        "huge iterations",
        {"analysis": {"stepWeight": None, "maxWeight": None, "iterations": 10**15}},
        "spec.analysis.iterations: must be at most 1000, got 1000000000000000",
    ),
    (
        "400-digit interval",
        {"analysis": {"interval": FOUR_HUNDRED_DIGITS + "s"}},
        "spec.analysis.interval: must be at most 24h, got '1111111111111111111111111111111111111...'",
    ),
    (
        "interval 25h",
        {"analysis": {"interval": "1500m"}},
        "spec.analysis.interval: must be at most 24h, got '1500m'",
    ),
    (
        "400-digit metric interval",
        {"analysis": {"metrics": [{"name": "request-success-rate", "interval": FOUR_HUNDRED_DIGITS + "m"}]}},
        "spec.analysis.metrics[0].interval: must be at most 24h",
    ),
    (
        "infinite threshold range",
        {"analysis": {"metrics": [{"name": "x", "query": "q", "thresholdRange": {"min": math.inf}}]}},
        "spec.analysis.metrics[0].thresholdRange.min: must be a finite number, got inf",
    ),
    (
        "NaN threshold range",
        {"analysis": {"metrics": [{"name": "x", "query": "q", "thresholdRange": {"max": math.nan}}]}},
        "spec.analysis.metrics[0].thresholdRange.max: must be a finite number, got nan",
    ),
    (
        "webhook retries 1e9",
        {"analysis": {"webhooks": [{**HOOK, "retries": 10**9}]}},
        "spec.analysis.webhooks[0].retries: must be between 0 and 10, got 1000000000",
    ),
    (
        "webhook timeout 1000m",
        {"analysis": {"webhooks": [{**HOOK, "timeout": "1000m"}]}},
        "spec.analysis.webhooks[0].timeout: must be at most 10m, got '1000m'",
    ),
    (
        "webhook timeout 0s",
        {"analysis": {"webhooks": [{**HOOK, "timeout": "0s"}]}},
        "spec.analysis.webhooks[0].timeout: must be positive, got '0s'",
    ),
    (
        "webhook to the metadata service",
        {"analysis": {"webhooks": [{**HOOK, "url": "http://169.254.169.254/latest/meta-data/"}]}},
        "spec.analysis.webhooks[0].url: address 169.254.169.254 is link-local or a metadata address, "
        "always refused",
    ),
    (
        "webhook file URL",
        {"analysis": {"webhooks": [{**HOOK, "url": "file:///etc/passwd"}]}},
        "spec.analysis.webhooks[0].url: URL scheme 'file' is not allowed; use http or https",
    ),
    (
        "metricsServer on metadata.google.internal",
        {"metricsServer": "http://metadata.google.internal/computeMetadata/v1/"},
        "spec.metricsServer: host metadata.google.internal is a cloud metadata endpoint and is always refused",
    ),
    (
        "progressDeadlineSeconds 1e20",
        {"progressDeadlineSeconds": 10**20},
        "spec.progressDeadlineSeconds: must be at most 86400, got 100000000000000000000",
    ),
]


@pytest.mark.parametrize(("row", "overrides", "expected"), CANARY_ROWS, ids=[r[0] for r in CANARY_ROWS])
def test_canary_bad_input_is_rejected_clearly(
    canary_manifest: Build, row: str, overrides: dict[str, Any], expected: str
) -> None:
    problems = validate_canary(canary_manifest(**overrides))
    assert any(p.startswith(expected) for p in problems), problems
    assert all(len(p) < 300 for p in problems), problems


def test_the_bounds_themselves_are_accepted(canary_manifest: Build) -> None:
    manifest = canary_manifest(
        progressDeadlineSeconds=86400,
        analysis={
            "interval": "1440m",
            "threshold": 100,
            "webhooks": [{**HOOK, "timeout": "10m", "retries": 10}],
            "metrics": [{"name": "request-success-rate", "interval": "1440m", "thresholdRange": {"min": 99}}],
        },
    )
    assert validate_canary(manifest) == []


def template(provider: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "gitcanary.io/v1beta1",
        "kind": "MetricTemplate",
        "metadata": {"name": "errors", "namespace": "test"},
        "spec": {"provider": provider, "query": "sum(x)"},
    }


TEMPLATE_ROWS: list[tuple[str, dict[str, Any], str]] = [
    (
        "provider type the controller cannot query",
        {"type": "opentsdb", "address": "http://tsdb:4242"},
        "spec.provider.type: Input should be 'prometheus', 'influxdb', 'datadog'",
    ),
    (
        "prometheus without an address",
        {"type": "prometheus"},
        "spec.provider.address: required for prometheus",
    ),
    (
        "prometheus on the metadata service",
        {"type": "prometheus", "address": "http://169.254.169.254"},
        "spec.provider.address: address 169.254.169.254 is link-local or a metadata address",
    ),
    (
        "datadog without credentials",
        {"type": "datadog"},
        "spec.provider.secretRef: required for datadog (datadog_api_key, datadog_application_key)",
    ),
]


@pytest.mark.parametrize(("row", "provider", "expected"), TEMPLATE_ROWS, ids=[r[0] for r in TEMPLATE_ROWS])
def test_metric_template_bad_input_is_rejected_clearly(
    row: str, provider: dict[str, Any], expected: str
) -> None:
    problems = validate_metric_template(template(provider))
    assert any(p.startswith(expected) for p in problems), problems


def test_served_metric_templates_stay_valid() -> None:
    assert validate_metric_template(template({"type": "prometheus", "address": "http://prom:9090"})) == []
    assert validate_metric_template(template({"type": "datadog", "secretRef": {"name": "dd"}})) == []


def test_alert_provider_on_a_link_local_address_is_rejected() -> None:
    provider = {
        "apiVersion": "gitcanary.io/v1beta1",
        "kind": "AlertProvider",
        "metadata": {"name": "slack"},
        "spec": {"type": "slack", "address": "http://[fe80::1]/hook"},
    }
    assert validate_alert_provider(provider) == [
        "spec.address: address fe80::1 is link-local or a metadata address, always refused"
    ]


def test_webhook_retry_bound_is_the_one_enforced_at_call_time() -> None:
    assert MAX_WEBHOOK_RETRIES == MAX_RETRIES


def test_gitcanary_check_reports_a_template_the_controller_cannot_query(tmp_path: Path) -> None:
    manifest = tmp_path / "templates.yaml"
    manifest.write_text(
        "apiVersion: flagger.app/v1beta1\n"
        "kind: MetricTemplate\n"
        "metadata:\n  name: latency\n  namespace: test\n"
        "spec:\n  provider:\n    type: opentsdb\n    address: http://tsdb:4242\n  query: q\n"
    )
    result = CliRunner().invoke(main, ["check", str(manifest)])
    assert result.exit_code == 1
    assert (
        f"{manifest}:8: MetricTemplate test/latency: spec.provider.type: Input should be 'prometheus', "
        "'influxdb', 'datadog', 'externalmetrics', 'stackdriver', 'cloudwatch', 'newrelic', 'graphite', "
        "'dynatrace', 'keptn' or 'splunk', got 'opentsdb'"
    ) in result.output


@pytest.mark.parametrize("url", ["gitcanary:gate", "gitcanary:rollback", " gitcanary:gate "])
def test_the_builtin_gate_urls_are_valid_webhooks(url: str) -> None:
    """The built-in gates are answered in-process: the outbound URL policy does not apply."""
    obj = canary("t", "podinfo", iterations=2, template=None)
    obj["spec"]["analysis"]["webhooks"] = [{"name": "gate", "type": "confirm-rollout", "url": url}]
    assert validate_canary(obj) == []
