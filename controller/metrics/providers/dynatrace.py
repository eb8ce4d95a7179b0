"""Dynatrace metric provider: the metrics API v2, ``GET <address>/api/v2/metrics/query``.

Follows Flagger's provider: ``address`` (the environment URL) is required and the secret must
hold ``dynatrace_token``, sent as ``Authorization: Api-Token <token>``. The query is a metric
selector sent as ``metricSelector`` with ``resolution=Inf`` and a window of ten metric intervals,
``from``/``to`` in Unix milliseconds. The value is the first value of the last data series of
the first result; no result, no series or no values raise ``NoValuesFound``. ``is_online``
calls ``GET /api/v2/metrics?pageSize=1`` and expects HTTP 200.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from controller.metrics.durations import interval_seconds
from controller.metrics.errors import NoValuesFound, ProviderConfigError, ProviderError
from controller.metrics.providers.contract import ProviderConfig
from controller.metrics.providers.transport import (
    error_from_response,
    finite,
    json_of,
    request_headers,
    send,
    strip_userinfo,
)
from controller.outbound import OutboundResponse

__all__ = ["DynatraceProvider"]

TOKEN_SECRET = "dynatrace_token"
WINDOW_MULTIPLIER = 10


class DynatraceProvider:
    """Runs Dynatrace metric selector queries with an API token."""

    def __init__(
        self,
        config: ProviderConfig,
        secret: Mapping[str, str] | None,
        *,
        interval: str = "1m",
        clock: Callable[[], float] = time.time,
    ) -> None:
        address = config.address.strip()
        if not address:
            raise ProviderConfigError("dynatrace endpoint is not set")
        if not address.startswith(("http://", "https://")):
            raise ProviderConfigError(f"dynatrace address {strip_userinfo(address)!r} is not a valid URL")
        token = (secret or {}).get(TOKEN_SECRET)
        if not token:
            raise ProviderConfigError(f"dynatrace credentials does not contain {TOKEN_SECRET}")
        window = interval_seconds(interval)
        base = address.rstrip("/")
        self._config = config
        self._query_url = base + "/api/v2/metrics/query"
        self._validate_url = base + "/api/v2/metrics"
        self._auth = f"Api-Token {token}"
        self._secrets = (token,)
        self._from_delta_ms = int(WINDOW_MULTIPLIER * window * 1000)
        self._clock = clock

    async def run_query(self, query: str) -> float:
        """Return the first value of the last series of the first result."""
        now_ms = int(self._clock()) * 1000
        params = {
            "metricSelector": query,
            "resolution": "Inf",
            "from": str(now_ms - self._from_delta_ms),
            "to": str(now_ms),
        }
        response = await self._get(self._query_url, params)
        if response.status_code != 200:
            raise error_from_response(response, self._secrets)
        return _first_value(json_of(response), query)

    async def is_online(self) -> bool:
        """True when the token may list metrics (HTTP 200); otherwise ``ProviderError``."""
        response = await self._get(self._validate_url, {"pageSize": "1"})
        if response.status_code != 200:
            raise error_from_response(response, self._secrets)
        return True

    async def _get(self, url: str, params: Mapping[str, str]) -> OutboundResponse:
        headers = request_headers(self._config, {"Authorization": self._auth})
        return await send(self._config, "GET", url, params=params, headers=headers, secrets=self._secrets)


def _first_value(body: Any, query: str) -> float:
    if not isinstance(body, dict):
        raise ProviderError("error unmarshaling result: not a JSON object")
    results = body.get("result") or []
    if not isinstance(results, list):
        raise ProviderError("error unmarshaling result: result is not a list")
    if not results or not isinstance(results[0], dict):
        raise NoValuesFound(query)
    data = results[0].get("data") or []
    if not isinstance(data, list):
        raise ProviderError("error unmarshaling result: data is not a list")
    if not data or not isinstance(data[-1], dict):
        raise NoValuesFound(query)
    values = data[-1].get("values") or []
    if not isinstance(values, list):
        raise ProviderError("error unmarshaling result: values is not a list")
    if not values or values[0] is None:
        raise NoValuesFound(query)
    return finite(values[0], query)
