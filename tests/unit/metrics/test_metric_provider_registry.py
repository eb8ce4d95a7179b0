from __future__ import annotations

import pytest

from controller.api.metric_template import SERVED_PROVIDER_TYPES
from controller.metrics.errors import UnknownProvider
from controller.metrics.providers import (
    SUPPORTED_PROVIDERS,
    DatadogProvider,
    GraphiteProvider,
    MetricProvider,
    PrometheusProvider,
    ProviderConfig,
    provider_for,
)


def test_registry_builds_each_supported_provider() -> None:
    prom = provider_for(ProviderConfig(type="prometheus", address="http://prom:9090"))
    graphite = provider_for(ProviderConfig(type="graphite", address="http://graphite"))
    datadog = provider_for(
        ProviderConfig(type="datadog"),
        {"datadog_api_key": "a", "datadog_application_key": "b"},
        interval="30s",
    )
    assert isinstance(prom, PrometheusProvider)
    assert isinstance(graphite, GraphiteProvider)
    assert isinstance(datadog, DatadogProvider)
    for provider in (prom, graphite, datadog):
        assert isinstance(provider, MetricProvider)
    assert {"prometheus", "datadog", "graphite"} <= set(SUPPORTED_PROVIDERS)


def test_validation_accepts_exactly_the_providers_the_registry_builds() -> None:
    assert SUPPORTED_PROVIDERS == SERVED_PROVIDER_TYPES


@pytest.mark.parametrize("kind", ["opentsdb", "nope"])
def test_unknown_provider_names_the_supported_ones(kind: str) -> None:
    with pytest.raises(
        UnknownProvider,
        match=f"'{kind}' is not supported; supported types: {', '.join(SUPPORTED_PROVIDERS)}$",
    ):
        provider_for(ProviderConfig(type=kind, address="http://x"))
