"""Answers the provider fuzz campaign (bench/chaos/fuzz_responses.py) found, kept as regressions.

The contract (controller.metrics.providers.contract): ``run_query`` returns a float that is not
NaN, or raises a MetricsError (ProviderError, NoValuesFound) with a message free of credentials.
"""

from __future__ import annotations

import asyncio

import pytest

from controller.metrics.errors import MetricsError
from controller.metrics.providers import ProviderConfig, provider_for

from .raw_http import RawServer, answer

SECRETS = {
    "prometheus": {"token": "prom-secret-token"},
    "datadog": {"datadog_api_key": "dd-api-secret", "datadog_application_key": "dd-app-secret"},
    "graphite": {"username": "graphite-user", "password": "graphite-secret-pw"},
}


def run_query(server: RawServer, kind: str) -> float:
    config = ProviderConfig(kind, f"http://127.0.0.1:{server.port}", has_secret=True, timeout=5.0)
    provider = provider_for(config, SECRETS[kind], interval="1m")
    return asyncio.run(provider.run_query("sum(rate(http_requests_total[1m]))"))


DEEP = b"[" * 42_000 + b"]" * 42_000


@pytest.mark.parametrize("kind", ["prometheus", "datadog", "graphite"])
def test_deeply_nested_json_is_a_metrics_error(server: RawServer, kind: str) -> None:
    # Found: RecursionError escaped OutboundResponse.json (prometheus, then every provider).
    server.answer = answer(200, DEEP, "Content-Type: application/json")
    with pytest.raises(MetricsError):
        run_query(server, kind)


HUGE = "1" + "0" * 400  # a JSON integer float() cannot hold: OverflowError, not ValueError


@pytest.mark.parametrize(
    ("kind", "body"),
    [
        ("datadog", f'{{"series": [{{"pointlist": [[1700000000, {HUGE}]]}}]}}'),
        ("graphite", f'[{{"target": "t", "datapoints": [[{HUGE}, 1700000000]]}}]'),
    ],
)
def test_a_point_too_large_for_a_float_is_a_metrics_error(server: RawServer, kind: str, body: str) -> None:
    server.answer = answer(200, body.encode(), "Content-Type: application/json")
    with pytest.raises(MetricsError) as refused:
        run_query(server, kind)
    assert all(secret not in str(refused.value) for secret in SECRETS[kind].values())
