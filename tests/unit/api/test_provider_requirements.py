"""A MetricTemplate missing a setting its provider cannot run without is refused by validation
(as Flagger's provider constructors refuse it), with a message naming the field and the keys,
instead of failing every check at runtime."""

from __future__ import annotations

from typing import Any

import pytest

from controller.api.metric_template import SERVED_PROVIDER_TYPES
from controller.api.validation import validate_metric_template


def template(provider: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "gitcanary.io/v1beta1",
        "kind": "MetricTemplate",
        "metadata": {"name": "m", "namespace": "test"},
        "spec": {"provider": provider, "query": "q"},
    }


SECRET = {"secretRef": {"name": "credentials"}}

MISSING: list[tuple[dict[str, Any], str]] = [
    ({"type": "cloudwatch"}, "spec.provider.region: required for cloudwatch"),
    ({"type": "cloudwatch", "region": "  "}, "spec.provider.region: required for cloudwatch"),
    ({"type": "dynatrace", **SECRET}, "spec.provider.address: required for dynatrace"),
    (
        {"type": "dynatrace", "address": "https://abc.live.dynatrace.com"},
        "spec.provider.secretRef: required for dynatrace (dynatrace_token)",
    ),
    (
        {"type": "newrelic"},
        "spec.provider.secretRef: required for newrelic (newrelic_account_id, newrelic_query_key)",
    ),
    ({"type": "influxdb"}, "spec.provider.address: required for influxdb"),
    (
        {"type": "stackdriver"},
        "spec.provider.secretRef: required for stackdriver (project, and serviceAccountKey unless the "
        "controller has GOOGLE_APPLICATION_CREDENTIALS)",
    ),
    ({"type": "splunk", **SECRET}, "spec.provider.address: required for splunk"),
    (
        {"type": "splunk", "address": "https://api.us1.signalfx.com"},
        "spec.provider.secretRef: required for splunk (sf_token_key)",
    ),
]


@pytest.mark.parametrize(
    ("provider", "problem"), MISSING, ids=[f"{p['type']}-{n}" for n, (p, _) in enumerate(MISSING)]
)
def test_a_missing_setting_is_named(provider: dict[str, Any], problem: str) -> None:
    assert validate_metric_template(template(provider)) == [problem]


COMPLETE: list[dict[str, Any]] = [
    {"type": "prometheus", "address": "http://prometheus:9090"},
    {"type": "graphite", "address": "http://graphite"},
    {"type": "datadog", **SECRET},
    {"type": "cloudwatch", "region": "eu-west-1"},
    {"type": "dynatrace", "address": "https://abc.live.dynatrace.com", **SECRET},
    {"type": "newrelic", **SECRET},
    {"type": "influxdb", "address": "http://influxdb:8086"},
    {"type": "influxdb", "address": "http://influxdb:8086", **SECRET},
    {"type": "stackdriver", **SECRET},
    {"type": "splunk", "address": "https://api.us1.signalfx.com", **SECRET},
    {"type": "keptn"},
    {"type": "externalmetrics"},
]


@pytest.mark.parametrize("provider", COMPLETE, ids=[p["type"] for p in COMPLETE])
def test_a_complete_template_is_valid(provider: dict[str, Any]) -> None:
    assert validate_metric_template(template(provider)) == []


def test_every_served_type_has_a_complete_example() -> None:
    assert {p["type"] for p in COMPLETE} == set(SERVED_PROVIDER_TYPES)
