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
from collections.abc import Mapping
from typing import Any

from controller.metrics.errors import NoValuesFound, ProviderError
from controller.metrics.providers.skeleton import WindowedProvider, required_key
from controller.metrics.providers.transport import backend_text, json_of

__all__ = ["DEFAULT_ADDRESS", "DatadogProvider"]

DEFAULT_ADDRESS = "https://api.datadoghq.com"
API_KEY_SECRET = "datadog_api_key"
APPLICATION_KEY_SECRET = "datadog_application_key"


class DatadogProvider(WindowedProvider):
    """Runs Datadog metric queries with API and application keys."""

    def _setup(self, secret: Mapping[str, str]) -> None:
        api_key = required_key(secret, API_KEY_SECRET, "datadog")
        app_key = required_key(secret, APPLICATION_KEY_SECRET, "datadog")
        address = (self._config.address or DEFAULT_ADDRESS).rstrip("/")
        self._query_url = address + "/api/v1/query"
        self._validate_url = address + "/api/v1/validate"
        self._headers = {"DD-API-KEY": api_key, "DD-APPLICATION-KEY": app_key}
        self._secrets = (api_key, app_key)

    async def run_query(self, query: str) -> float:
        """Return the last point of the first series of ``query``."""
        now = int(self._clock())
        params = {"query": query, "from": str(now - int(self._window)), "to": str(now)}
        response = await self._get(self._query_url, params)
        return _last_point(json_of(response), query)

    async def is_online(self) -> bool:
        """True when the API validates the keys (HTTP 200)."""
        await self._get(self._validate_url, None)
        return True


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
