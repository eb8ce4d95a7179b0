"""Exceptions raised by metric rendering, providers and the provider registry, and what each
one means for the analysis: no error is a verdict on the release.

Hierarchy::

    MetricsError
    ├── TemplateError      a MetricTemplate query cannot be rendered (unknown variable, bad syntax)
    ├── UnknownProvider    no provider is registered under the requested type
    ├── ProviderConfigError  the provider spec or its secret is unusable (missing key, bad address)
    └── ProviderError      a query failed: network fault, HTTP error, unparsable answer
        └── NoValuesFound  the query ran but returned no usable sample (empty or NaN)

A check has three outcomes (``Outcome``): *passed* and *failed* need a measured value (failed: it
is out of range); every ``MetricsError`` makes the check *inconclusive*, with a ``Cause`` that
``cause_of`` names: the backend was unreachable or timed out, answered 5xx or malformed data,
returned no values, rejected the query (4xx), or the check is misconfigured. A ``ProviderError``
carries its cause; raised without one, the cause is read from the provider's wording (providers
word their errors through ``controller.metrics.providers.transport``).

Invariant: no message built by this package contains a credential. Providers scrub
secret values and URL userinfo out of every error text before raising.
"""

from __future__ import annotations

import re
from enum import StrEnum

from controller.errors import GitcanaryError, PermanentError, TemporaryError

__all__ = [
    "Cause",
    "MetricsError",
    "NoValuesFound",
    "Outcome",
    "ProviderConfigError",
    "ProviderError",
    "TemplateError",
    "UnknownProvider",
    "cause_of",
]


class Outcome(StrEnum):
    """The three outcomes of a check."""

    PASSED = "passed"
    FAILED = "failed"
    INCONCLUSIVE = "inconclusive"


class Cause(StrEnum):
    """Why a check could not measure: the cause an inconclusive result names."""

    UNREACHABLE = "unreachable"
    """No answer: connection refused or reset, DNS failure, TLS failure."""
    TIMEOUT = "timeout"
    """No complete answer within the provider's deadline."""
    SERVER_ERROR = "server-error"
    """The backend answered 5xx or 429 (overloaded, restarting, behind a failing gateway)."""
    MALFORMED = "malformed"
    """The backend answered, but not with a value: not JSON, wrong shape, not a finite number."""
    NO_VALUES = "no-values"
    """The query ran and returned no sample (or NaN), which the check cannot judge."""
    REJECTED = "rejected"
    """The backend refused the query (4xx other than 429, or a query error): fix the query."""
    MISCONFIGURED = "misconfigured"
    """The check cannot run as specified (template, provider type, secret, address)."""


class MetricsError(GitcanaryError):
    """Base class of every error raised by ``controller.metrics`` (a family: each subclass is of
    one kind, temporary or permanent)."""

    cause: Cause = Cause.MISCONFIGURED


class TemplateError(MetricsError, PermanentError):
    """A query template uses a variable or construct that cannot be rendered."""


class UnknownProvider(MetricsError, PermanentError):
    """No metric provider is registered for the requested type."""


class ProviderConfigError(MetricsError, PermanentError):
    """The provider configuration or its secret is incomplete or invalid."""


_STATUS = re.compile(
    r"(?:error response|unexpected status code:?|status(?: code)?)\s*(\d{3})\b", re.IGNORECASE
)
_TIMEOUT = re.compile(r"timed out|timeout|deadline", re.IGNORECASE)
_MALFORMED = re.compile(
    r"unmarshal|parsing|not a number|not a finite number|not json|decode|larger than", re.IGNORECASE
)
_QUERY_ERROR = re.compile(r"^query error\b", re.IGNORECASE)


def _cause_from_message(message: str) -> Cause:
    """The cause a provider's wording names (see the module docstring)."""
    status = _STATUS.search(message)
    if status is not None:
        code = int(status.group(1))
        return Cause.SERVER_ERROR if code >= 500 or code == 429 else Cause.REJECTED
    if _TIMEOUT.search(message):
        return Cause.TIMEOUT
    if _QUERY_ERROR.search(message):
        return Cause.REJECTED
    if _MALFORMED.search(message):
        return Cause.MALFORMED
    return Cause.UNREACHABLE


class ProviderError(MetricsError, TemporaryError):
    """A provider query failed (transport, HTTP status, or response decoding)."""

    def __init__(self, message: str, cause: Cause | None = None) -> None:
        super().__init__(message)
        self.cause = cause if cause is not None else _cause_from_message(message)


class NoValuesFound(ProviderError):
    """The query succeeded but produced no usable value."""

    def __init__(self, query: str) -> None:
        super().__init__(f"no values found for query {query}", Cause.NO_VALUES)
        self.query = query


def cause_of(error: MetricsError) -> Cause:
    """Why ``error`` left its check inconclusive."""
    return error.cause
