"""Select a metric provider by its MetricTemplate ``spec.provider.type``.

Adding a provider is one file, one entry in ``_FACTORIES``, and its name in
``controller.api.metric_template.SERVED_PROVIDER_TYPES`` (which validation reads). A type
that is not registered raises ``UnknownProvider`` with a message that names the supported
types, instead of a placeholder that fails later.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from controller.metrics.errors import UnknownProvider
from controller.metrics.providers.cloudwatch import CloudWatchProvider
from controller.metrics.providers.contract import MetricProvider, ProviderConfig
from controller.metrics.providers.datadog import DatadogProvider
from controller.metrics.providers.dynatrace import DynatraceProvider
from controller.metrics.providers.externalmetrics import ExternalMetricsProvider
from controller.metrics.providers.graphite import GraphiteProvider
from controller.metrics.providers.influxdb import InfluxdbProvider
from controller.metrics.providers.keptn import KeptnProvider
from controller.metrics.providers.kube_api import KubeClient
from controller.metrics.providers.newrelic import NewRelicProvider
from controller.metrics.providers.prometheus import PrometheusProvider
from controller.metrics.providers.splunk import SplunkProvider
from controller.metrics.providers.stackdriver import StackdriverProvider

__all__ = ["SUPPORTED_PROVIDERS", "provider_for"]

_Factory = Callable[[ProviderConfig, Mapping[str, str] | None, str, KubeClient | None], MetricProvider]

_FACTORIES: dict[str, _Factory] = {
    "prometheus": lambda config, secret, _interval, _kube: PrometheusProvider(config, secret),
    "cloudwatch": lambda config, secret, interval, _kube: CloudWatchProvider(
        config, secret, interval=interval
    ),
    "datadog": lambda config, secret, interval, _kube: DatadogProvider(config, secret, interval=interval),
    "dynatrace": lambda config, secret, interval, _kube: DynatraceProvider(config, secret, interval=interval),
    "externalmetrics": lambda config, secret, _interval, kube: ExternalMetricsProvider(
        config, secret, kube=kube
    ),
    "graphite": lambda config, secret, _interval, _kube: GraphiteProvider(config, secret),
    "influxdb": lambda config, secret, _interval, _kube: InfluxdbProvider(config, secret),
    "keptn": lambda config, _secret, _interval, kube: KeptnProvider(config, kube=kube),
    "newrelic": lambda config, secret, interval, _kube: NewRelicProvider(config, secret, interval=interval),
    "splunk": lambda config, secret, interval, _kube: SplunkProvider(config, secret, interval=interval),
    "stackdriver": lambda config, secret, _interval, _kube: StackdriverProvider(config, secret),
}

SUPPORTED_PROVIDERS: tuple[str, ...] = tuple(sorted(_FACTORIES))


def provider_for(
    config: ProviderConfig,
    secret: Mapping[str, str] | None = None,
    *,
    interval: str = "1m",
    kube: KubeClient | None = None,
) -> MetricProvider:
    """Build the provider for ``config.type``; raise ``UnknownProvider`` if unsupported.

    ``interval`` is the metric's query window; providers whose API takes a time range
    (Datadog, New Relic, ...) derive it from this value. ``kube`` is the controller's Kubernetes
    client, which ``externalmetrics`` (without an address) and ``keptn`` read through; without
    it they raise ``ProviderConfigError``.
    """
    factory = _FACTORIES.get(config.type)
    if factory is None:
        raise UnknownProvider(
            f"metric provider type {config.type!r} is not supported; "
            f"supported types: {', '.join(SUPPORTED_PROVIDERS)}"
        )
    return factory(config, secret, interval, kube)
