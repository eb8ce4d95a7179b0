"""HTTP plumbing shared by the HTTP-based metric providers.

Invariants:
* Every request goes through ``controller.outbound``: the provider's ``timeout`` is a total
  deadline (a backend that trickles its answer fails at it), answers stop at 1 MiB, only
  http and https are called, link-local and cloud metadata addresses are refused, and the
  controller's allow-list applies. Redirects are not followed.
* ``scrub`` removes every credential value and any URL userinfo from a text; providers
  pass every error message through it before raising, so credentials never reach
  logs, events or status.
* A backend's own text (an error body, a value that does not parse) reaches a message only
  as ``backend_text``: scrubbed, then cut to a short, printable, one-line fragment.
* ``send`` makes at most ``retries`` extra attempts (capped by ``controller.outbound``), and only
  after a 429, a 5xx or a failed connection, never after the deadline passed; each attempt has
  the provider's total deadline.
* ``finite`` is the one way a provider turns a backend's value into a number: NaN is
  ``NoValuesFound`` (as Prometheus' empty answers), +/-Inf and anything that is not a number
  are ``ProviderError``; a provider never returns a non-finite float.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from controller.metrics.errors import NoValuesFound, ProviderConfigError, ProviderError
from controller.metrics.providers.contract import ProviderConfig
from controller.outbound import (
    DeadlineExceeded,
    OutboundError,
    OutboundResponse,
    Outcome,
    TransportFailed,
    URLRefused,
    body_fragment,
    fetch_retrying,
)

__all__ = [
    "backend_text",
    "error_from_response",
    "finite",
    "json_of",
    "request_headers",
    "scrub",
    "send",
    "strip_userinfo",
]

RETRY_BACKOFF = 0.2
"""Seconds before the first retry of ``send``; doubled for each further one."""

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


def backend_text(text: str, secrets: Iterable[str]) -> str:
    """A backend's text as it may appear in a message: scrubbed, short, printable."""
    return body_fragment(scrub(text[:4096], secrets))


def request_headers(config: ProviderConfig, own: Mapping[str, str]) -> list[tuple[str, str]]:
    """The spec's ``headers`` (every value) followed by the provider's own, which win."""
    mine = {key.lower() for key in own}
    extra = [(k, v) for k, values in config.headers.items() if k.lower() not in mine for v in values]
    return [*extra, *own.items()]


def error_from_response(
    response: OutboundResponse, secrets: Iterable[str], prefix: str = ""
) -> ProviderError:
    """A ``ProviderError`` carrying the status code and a short, scrubbed fragment of the body,
    after ``prefix`` (what was being done)."""
    body = backend_text(response.text, secrets)
    return ProviderError(f"{prefix}error response {response.status_code}: {body}")


def _retryable(outcome: Outcome) -> bool:
    if isinstance(outcome, TransportFailed):
        return True
    return not isinstance(outcome, Exception) and (outcome.status_code == 429 or outcome.status_code >= 500)


async def send(
    config: ProviderConfig,
    method: str,
    url: str,
    *,
    params: Mapping[str, str] | list[tuple[str, str]] | None = None,
    headers: list[tuple[str, str]],
    secrets: Iterable[str],
    json_body: object = None,
    content: bytes | None = None,
    retries: int = 0,
) -> OutboundResponse:
    """One request (GET or POST) under the outbound invariants, with at most ``retries`` retries.

    Every failure is a scrubbed ``MetricsError``; any HTTP status is returned to the caller.
    """
    try:
        return await fetch_retrying(
            method,
            url,
            deadline=config.timeout,
            retries=retries,
            retry_if=_retryable,
            backoff=RETRY_BACKOFF,
            params=params,
            headers=headers,
            json_body=json_body,
            content=content,
            verify=not config.insecure_skip_verify,
        )
    except URLRefused as exc:
        raise ProviderConfigError(f"{config.type} address refused: {scrub(str(exc), secrets)}") from None
    except DeadlineExceeded:
        raise ProviderError(f"request timed out after {config.timeout:g}s") from None
    except OutboundError as exc:
        raise ProviderError(scrub(str(exc), secrets)) from None


def json_of(response: OutboundResponse) -> Any:
    """The body as JSON, or ``ProviderError("error unmarshaling result: ...")``."""
    try:
        return response.json()
    except ValueError:
        raise ProviderError("error unmarshaling result: not JSON") from None


def finite(raw: object, query: str, secrets: Iterable[str] = ()) -> float:
    """``raw`` (a JSON number or a numeric string) as a finite float; see the module invariants."""
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise ProviderError(f"error parsing value {backend_text(repr(raw), secrets)}: not a number")
    try:
        value = float(raw)
    except (ValueError, OverflowError):
        raise ProviderError(f"error parsing value {backend_text(repr(raw), secrets)}: not a number") from None
    if math.isnan(value):
        raise NoValuesFound(query)
    if math.isinf(value):
        shown = "+Inf" if value > 0 else "-Inf"
        raise ProviderError(f"query {backend_text(query, secrets)} returned {shown} (not a finite number)")
    return value
