"""Exceptions raised by metric rendering, providers and the provider registry.

Hierarchy::

    MetricsError
    ├── TemplateError      a MetricTemplate query cannot be rendered (unknown variable, bad syntax)
    ├── UnknownProvider    no provider is registered under the requested type
    ├── ProviderConfigError  the provider spec or its secret is unusable (missing key, bad address)
    └── ProviderError      a query failed: network fault, HTTP error, unparsable answer
        └── NoValuesFound  the query ran but returned no usable sample (empty or NaN)

Invariant: no message built by this package contains a credential. Providers scrub
secret values and URL userinfo out of every error text before raising.
"""

from __future__ import annotations

__all__ = [
    "MetricsError",
    "NoValuesFound",
    "ProviderConfigError",
    "ProviderError",
    "TemplateError",
    "UnknownProvider",
]


class MetricsError(Exception):
    """Base class of every error raised by ``controller.metrics``."""


class TemplateError(MetricsError):
    """A query template uses a variable or construct that cannot be rendered."""


class UnknownProvider(MetricsError):
    """No metric provider is registered for the requested type."""


class ProviderConfigError(MetricsError):
    """The provider configuration or its secret is incomplete or invalid."""


class ProviderError(MetricsError):
    """A provider query failed (transport, HTTP status, or response decoding)."""


class NoValuesFound(ProviderError):
    """The query succeeded but produced no usable value."""

    def __init__(self, query: str) -> None:
        super().__init__(f"no values found for query {query}")
        self.query = query
