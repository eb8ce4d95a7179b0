"""HTTP plumbing shared by the HTTP-based metric providers.

Invariants:
* ``build_client`` always sets an explicit timeout.
* ``scrub`` removes every credential value and any URL userinfo from a text; providers
  pass every error message through it before raising, so credentials never reach
  logs, events or status.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import httpx

from controller.metrics.errors import ProviderError
from controller.metrics.providers.contract import ProviderConfig

__all__ = ["MAX_ERROR_BODY", "build_client", "describe_transport_error", "scrub", "strip_userinfo"]

MAX_ERROR_BODY = 512
"""Characters of a provider's error body kept in an error message."""

_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@")


def strip_userinfo(text: str) -> str:
    """Remove ``user:password@`` from every URL in ``text``."""
    return _USERINFO.sub(r"\g<scheme>", text)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Return ``text`` with each non-empty secret replaced by ``***`` and URL userinfo removed."""
    cleaned = strip_userinfo(text)
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        cleaned = cleaned.replace(secret, "***")
    return cleaned


def build_client(config: ProviderConfig) -> httpx.AsyncClient:
    """An ``AsyncClient`` with the config's timeout, TLS setting and extra headers."""
    headers = [(key, value) for key, values in config.headers.items() for value in values]
    return httpx.AsyncClient(
        timeout=httpx.Timeout(config.timeout),
        verify=not config.insecure_skip_verify,
        headers=headers,
        follow_redirects=False,
    )


def describe_transport_error(exc: httpx.HTTPError | httpx.InvalidURL, timeout: float) -> str:
    """A short, credential-free description of a transport failure."""
    if isinstance(exc, httpx.TimeoutException):
        return f"request timed out after {timeout:g}s"
    return f"request failed: {type(exc).__name__}: {exc}"


def error_from_response(response: httpx.Response, secrets: Iterable[str]) -> ProviderError:
    """A ``ProviderError`` carrying the status code and a bounded, scrubbed body."""
    body = response.text[:MAX_ERROR_BODY]
    return ProviderError(scrub(f"error response {response.status_code}: {body}", secrets))
