"""The metric provider port: a Protocol with two methods and its configuration.

Invariants:
* ``run_query`` returns a finite-or-infinite float, never NaN: an empty answer or NaN
  raises ``NoValuesFound``; every other failure raises ``ProviderError``.
* Every network call has a total deadline (``DEFAULT_QUERY_TIMEOUT`` unless the
  config says otherwise).
* Error messages never contain credentials.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

__all__ = ["DEFAULT_QUERY_TIMEOUT", "MetricProvider", "ProviderConfig"]

DEFAULT_QUERY_TIMEOUT = 5.0
"""Seconds allowed for one provider HTTP call (Flagger uses 5s for its providers)."""


@runtime_checkable
class MetricProvider(Protocol):
    """Runs one query against a metrics backend and returns a single number."""

    async def run_query(self, query: str) -> float:
        """Execute ``query`` and return its value; raise ``NoValuesFound`` when empty."""
        ...

    async def is_online(self) -> bool:
        """Return True when the backend answers a trivial query correctly.

        Returns False when the backend answered with an unexpected value and raises
        ``ProviderError`` (with the reason) when it could not be reached.
        """
        ...


@dataclass(frozen=True)
class ProviderConfig:
    """A MetricTemplate ``spec.provider``, without the secret (passed separately)."""

    type: str
    """Provider type, e.g. ``prometheus``, ``datadog``, ``graphite``."""
    address: str = ""
    """Base URL of the provider API."""
    insecure_skip_verify: bool = False
    """Disable TLS certificate verification."""
    headers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Extra HTTP headers sent with every request (``spec.provider.headers``)."""
    region: str = ""
    """Region, for cloud providers."""
    timeout: float = DEFAULT_QUERY_TIMEOUT
    """Seconds allowed for each HTTP call."""
    has_secret: bool = False
    """Whether the spec has a ``secretRef``; credentials are then required."""
