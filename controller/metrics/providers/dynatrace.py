"""Dynatrace metric provider: the metrics API v2, ``GET <address>/api/v2/metrics/query``.

Follows Flagger's provider: ``address`` (the environment URL) is required and the secret must
hold ``dynatrace_token``, sent as ``Authorization: Api-Token <token>``. The query is a metric
selector sent as ``metricSelector`` with ``resolution=Inf`` and a window of ten metric intervals,
``from``/``to`` in Unix milliseconds. The value is the first value of the last data series of
the first result; no result, no series or no values raise ``NoValuesFound``. ``is_online``
calls ``GET /api/v2/metrics?pageSize=1`` and expects HTTP 200.
"""

from __future__ import annotations

from collections.abc import Mapping

from controller.metrics.errors import NoValuesFound, ProviderConfigError
from controller.metrics.providers.skeleton import WindowedProvider, first_item, http_address, required_key
from controller.metrics.providers.transport import finite, json_of

__all__ = ["DynatraceProvider"]

TOKEN_SECRET = "dynatrace_token"


class DynatraceProvider(WindowedProvider):
    """Runs Dynatrace metric selector queries with an API token."""

    def _setup(self, secret: Mapping[str, str]) -> None:
        if not self._config.address.strip():
            raise ProviderConfigError("dynatrace endpoint is not set")
        base = http_address(self._config.address, "dynatrace")
        token = required_key(secret, TOKEN_SECRET, "dynatrace")
        self._query_url = base + "/api/v2/metrics/query"
        self._validate_url = base + "/api/v2/metrics"
        self._headers = {"Authorization": f"Api-Token {token}"}
        self._secrets = (token,)

    async def run_query(self, query: str) -> float:
        """Return the first value of the last series of the first result."""
        now_ms = int(self._clock()) * 1000
        params = {
            "metricSelector": query,
            "resolution": "Inf",
            "from": str(now_ms - int(self._window * 1000)),
            "to": str(now_ms),
        }
        response = await self._get(self._query_url, params)
        value = first_item(json_of(response), query, (("result", 0), ("data", -1), ("values", 0)))
        if value is None:
            raise NoValuesFound(query)
        return finite(value, query)

    async def is_online(self) -> bool:
        """True when the token may list metrics (HTTP 200); otherwise ``ProviderError``."""
        await self._get(self._validate_url, {"pageSize": "1"})
        return True
