"""Metric providers: one adapter per file behind the ``MetricProvider`` Protocol."""

from controller.metrics.providers.contract import DEFAULT_QUERY_TIMEOUT, MetricProvider, ProviderConfig
from controller.metrics.providers.datadog import DatadogProvider
from controller.metrics.providers.graphite import GraphiteProvider
from controller.metrics.providers.prometheus import PrometheusProvider
from controller.metrics.providers.registry import SUPPORTED_PROVIDERS, provider_for

__all__ = [
    "DEFAULT_QUERY_TIMEOUT",
    "SUPPORTED_PROVIDERS",
    "DatadogProvider",
    "GraphiteProvider",
    "MetricProvider",
    "PrometheusProvider",
    "ProviderConfig",
    "provider_for",
]
