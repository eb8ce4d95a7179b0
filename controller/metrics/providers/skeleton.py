"""What the HTTP metric providers share: address and credential checks, the checked GET, the
time window, and walking a JSON answer down to its value.

Each provider stays one adapter in its own file behind the ``MetricProvider`` Protocol; this
module holds what several of them did the same way, so it is written once:

* ``http_address`` / ``url_parts``: a configured address that is not a URL of an allowed scheme
  is a ``ProviderConfigError`` naming the address without its userinfo.
* ``required_key`` / ``basic_auth``: missing credentials are a ``ProviderConfigError`` naming the
  key, never its value; every credential value ends up in the provider's ``_secrets``.
* ``HttpProvider._get``: one GET under ``transport.send`` (total deadline, size cap, scrubbed
  errors) with the spec's headers before the provider's own; a status that is not a success is
  ``error_from_response``.
* ``WindowedProvider``: providers whose query covers ``WINDOW_MULTIPLIER`` metric intervals
  ending now; the config and the credentials are checked before the interval.
* ``first_item``: a missing or empty list is ``NoValuesFound``; a list field that is not a list
  is a ``ProviderError``.
"""

from __future__ import annotations

import base64
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import SplitResult, urlsplit

from controller.metrics.durations import interval_seconds
from controller.metrics.errors import NoValuesFound, ProviderConfigError, ProviderError
from controller.metrics.providers.contract import ProviderConfig
from controller.metrics.providers.transport import error_from_response, request_headers, send, strip_userinfo
from controller.outbound import OutboundResponse

__all__ = [
    "WINDOW_MULTIPLIER",
    "HttpProvider",
    "WindowedProvider",
    "basic_auth",
    "first_item",
    "http_address",
    "query_text",
    "required_key",
    "status_200",
    "status_below_400",
    "url_parts",
]

_WHITESPACE = re.compile(r"\s+")

WINDOW_MULTIPLIER = 10
"""A time-range query covers this many metric intervals ending now (Flagger's ``fromDelta``)."""


def _invalid(provider: str, address: str) -> ProviderConfigError:
    return ProviderConfigError(f"{provider} address {strip_userinfo(address)!r} is not a valid URL")


def http_address(address: str, provider: str) -> str:
    """``address`` stripped and without a trailing ``/``; it must start with http:// or https://."""
    address = address.strip()
    if not address.startswith(("http://", "https://")):
        raise _invalid(provider, address)
    return address.rstrip("/")


def url_parts(address: str, provider: str, schemes: Sequence[str] = ("http", "https")) -> SplitResult:
    """``address`` split; its scheme must be one of ``schemes`` and it must name a host."""
    parts = urlsplit(address)
    if parts.scheme not in schemes or not parts.hostname:
        raise _invalid(provider, address)
    return parts


def required_key(secret: Mapping[str, str], key: str, provider: str, what: str = "") -> str:
    """The non-empty value of ``key`` in the secret; ``what`` names it in the error (default: ``key``)."""
    value = secret.get(key)
    if not value:
        raise ProviderConfigError(f"{provider} credentials does not contain {what or key}")
    return value


def basic_auth(provider: str, secret: Mapping[str, str]) -> tuple[dict[str, str], tuple[str, ...]]:
    """The Authorization header for the secret's ``username``/``password`` (both present), and
    the values to scrub."""
    username = secret.get("username")
    password = secret.get("password")
    if username is None:
        raise ProviderConfigError(f"{provider} credentials does not contain a username")
    if password is None:
        raise ProviderConfigError(f"{provider} credentials does not contain a password")
    encoded = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return {"Authorization": f"Basic {encoded}"}, (username, password, encoded)


def query_text(query: str) -> str:
    """The query with every whitespace run collapsed to one space, as Flagger sends it."""
    return _WHITESPACE.sub(" ", query).strip()


def status_200(status: int) -> bool:
    """Only HTTP 200 is a success."""
    return status == 200


def status_below_400(status: int) -> bool:
    """Any status below 400 is a success."""
    return status < 400


class HttpProvider:
    """A provider's configuration, its own request headers and its secrets, and its GET."""

    def __init__(self, config: ProviderConfig) -> None:
        self._config = config
        self._headers: dict[str, str] = {}
        self._secrets: tuple[str, ...] = ()

    async def _get(
        self,
        url: str,
        params: Mapping[str, str] | list[tuple[str, str]] | None,
        ok: Callable[[int], bool] = status_200,
        error_prefix: str = "",
    ) -> OutboundResponse:
        """GET ``url``; a status ``ok`` refuses is ``error_from_response`` after ``error_prefix``."""
        headers = request_headers(self._config, self._headers)
        response = await send(self._config, "GET", url, params=params, headers=headers, secrets=self._secrets)
        if not ok(response.status_code):
            raise error_from_response(response, self._secrets, error_prefix)
        return response


class WindowedProvider(HttpProvider, ABC):
    """A provider whose query covers ``WINDOW_MULTIPLIER`` metric intervals ending at ``clock()``."""

    def __init__(
        self,
        config: ProviderConfig,
        secret: Mapping[str, str] | None,
        *,
        interval: str = "1m",
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(config)
        self._clock = clock
        self._setup(secret or {})
        self._window = WINDOW_MULTIPLIER * interval_seconds(interval)  # seconds

    @abstractmethod
    def _setup(self, secret: Mapping[str, str]) -> None:
        """Check the address and the credentials (``ProviderConfigError``); set the URLs,
        ``_headers`` and ``_secrets``."""


def first_item(body: Any, query: str, path: Sequence[tuple[str, int]]) -> object:
    """Walk a JSON object down ``path``: each step is a list field and the index taken from it.

    A missing, null or empty list, or an item on the way that is not an object, is
    ``NoValuesFound``; a field that is not a list is a ``ProviderError``. The last item is
    returned as it is (it may be null).
    """
    if not isinstance(body, dict):
        raise ProviderError("error unmarshaling result: not a JSON object")
    node: object = body
    for key, index in path:
        if not isinstance(node, dict):
            raise NoValuesFound(query)
        items = node.get(key) or []
        if not isinstance(items, list):
            raise ProviderError(f"error unmarshaling result: {key} is not a list")
        if not items:
            raise NoValuesFound(query)
        node = items[index]
    return node
