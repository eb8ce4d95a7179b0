"""Datadog metric provider: ``GET <address>/api/v1/query`` (timeseries points query).

Follows Flagger's provider: the secret must hold ``datadog_api_key`` and
``datadog_application_key``, sent as the ``DD-API-KEY`` and ``DD-APPLICATION-KEY``
headers; the query window is ``[now - 10 * interval, now]`` in Unix seconds; the value
is the last point of the first series. No series, no points, or a null/NaN value raise
``NoValuesFound``. ``is_online`` calls ``GET /api/v1/validate`` and expects HTTP 200.
The default address is ``https://api.datadoghq.com``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

from controller.metrics.durations import interval_seconds
from controller.metrics.errors import NoValuesFound, ProviderConfigError, ProviderError
from controller.metrics.providers.contract import ProviderConfig
from controller.metrics.providers.transport import backend_text, error_from_response, get, request_headers
from controller.outbound import OutboundResponse

__all__ = ["DEFAULT_ADDRESS", "DatadogProvider"]

DEFAULT_ADDRESS = "https://api.datadoghq.com"
API_KEY_SECRET = "datadog_api_key"
APPLICATION_KEY_SECRET = "datadog_application_key"
WINDOW_MULTIPLIER = 10
"""The query window is this many metric intervals (Flagger's ``fromDelta``)."""


class DatadogProvider:
    """Runs Datadog metric queries with API and application keys."""

    def __init__(
        self,
        config: ProviderConfig,
        secret: Mapping[str, str] | None,
        *,
        interval: str = "1m",
        clock: Callable[[], float] = time.time,
    ) -> None:
        credentials = secret or {}
        api_key = credentials.get(API_KEY_SECRET)
        app_key = credentials.get(APPLICATION_KEY_SECRET)
        if not api_key:
            raise ProviderConfigError(f"datadog credentials does not contain {API_KEY_SECRET}")
        if not app_key:
            raise ProviderConfigError(f"datadog credentials does not contain {APPLICATION_KEY_SECRET}")
        window = interval_seconds(interval)
        address = (config.address or DEFAULT_ADDRESS).rstrip("/")
        self._config = config
        self._query_url = address + "/api/v1/query"
        self._validate_url = address + "/api/v1/validate"
        self._headers = {"DD-API-KEY": api_key, "DD-APPLICATION-KEY": app_key}
        self._secrets = (api_key, app_key)
        self._from_delta = int(WINDOW_MULTIPLIER * window)
        self._clock = clock

    async def run_query(self, query: str) -> float:
        """Return the last point of the first series of ``query``."""
        now = int(self._clock())
        params = {"query": query, "from": str(now - self._from_delta), "to": str(now)}
        response = await self._get(self._query_url, params)
        if response.status_code != 200:
            raise error_from_response(response, self._secrets)
        try:
            body = response.json()
        except ValueError:
            raise ProviderError("error unmarshaling result: not JSON") from None
        return _last_point(body, query)

    async def is_online(self) -> bool:
        """True when the API validates the keys (HTTP 200)."""
        response = await self._get(self._validate_url, None)
        if response.status_code != 200:
            raise error_from_response(response, self._secrets)
        return True

    async def _get(self, url: str, params: Mapping[str, str] | None) -> OutboundResponse:
        headers = request_headers(self._config, self._headers)
        return await get(self._config, url, params=params, headers=headers, secrets=self._secrets)


def _last_point(body: Any, query: str) -> float:
    series = body.get("series") if isinstance(body, dict) else None
    if not isinstance(series, list) or not series or not isinstance(series[0], dict):
        raise NoValuesFound(query)
    points = series[0].get("pointlist")
    if not isinstance(points, list) or not points:
        raise NoValuesFound(query)
    last = points[-1]
    if not isinstance(last, list) or len(last) < 2 or last[1] is None:
        raise NoValuesFound(query)
    try:
        value = float(last[1])
    except (TypeError, ValueError, OverflowError):
        raise ProviderError(f"error parsing point value {backend_text(repr(last[1]), ())}") from None
    if math.isnan(value):
        raise NoValuesFound(query)
    return value
