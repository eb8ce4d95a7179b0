"""New Relic metric provider: NRQL through the Insights query API.

Follows Flagger's provider: the secret must hold ``newrelic_account_id`` and
``newrelic_query_key``; the request is ``GET <address>/v1/accounts/<account>/query`` with the
key in the ``X-Query-Key`` header and ``nrql=<query> SINCE <interval seconds> seconds ago``.
The value is ``results[0].result``; anything but exactly one result, or a null result, raises
``NoValuesFound``. ``is_online`` runs ``SELECT * FROM Metric`` and expects HTTP 200.
The default address is ``https://insights-api.newrelic.com``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from controller.metrics.durations import interval_seconds
from controller.metrics.errors import NoValuesFound, ProviderError
from controller.metrics.providers.contract import ProviderConfig
from controller.metrics.providers.skeleton import HttpProvider, required_key
from controller.metrics.providers.transport import finite, json_of
from controller.outbound import OutboundResponse

__all__ = ["DEFAULT_ADDRESS", "ONLINE_QUERY", "NewRelicProvider"]

DEFAULT_ADDRESS = "https://insights-api.newrelic.com"
ACCOUNT_ID_SECRET = "newrelic_account_id"
QUERY_KEY_SECRET = "newrelic_query_key"
ONLINE_QUERY = "SELECT * FROM Metric"


class NewRelicProvider(HttpProvider):
    """Runs NRQL queries against one New Relic account."""

    def __init__(
        self, config: ProviderConfig, secret: Mapping[str, str] | None, *, interval: str = "1m"
    ) -> None:
        super().__init__(config)
        credentials = secret or {}
        account = required_key(credentials, ACCOUNT_ID_SECRET, "newrelic", f"the key {ACCOUNT_ID_SECRET!r}")
        key = required_key(credentials, QUERY_KEY_SECRET, "newrelic", f"the key {QUERY_KEY_SECRET!r}")
        self._since = int(interval_seconds(interval))
        address = (config.address or DEFAULT_ADDRESS).rstrip("/")
        self._endpoint = f"{address}/v1/accounts/{quote(account, safe='')}/query"
        self._headers = {"X-Query-Key": key}
        self._secrets = (key,)

    async def run_query(self, query: str) -> float:
        """Return the single ``result`` of the NRQL query over the metric interval."""
        return _single_result(json_of(await self._query(query)), query)

    async def is_online(self) -> bool:
        """True when the API accepts the key (HTTP 200); otherwise ``ProviderError``."""
        await self._query(ONLINE_QUERY)
        return True

    async def _query(self, query: str) -> OutboundResponse:
        return await self._get(self._endpoint, {"nrql": f"{query} SINCE {self._since} seconds ago"})


def _single_result(body: Any, query: str) -> float:
    if not isinstance(body, dict):
        raise ProviderError("error unmarshaling result: not a JSON object")
    results = body.get("results", [])
    if not isinstance(results, list):
        raise ProviderError("error unmarshaling result: results is not a list")
    if len(results) != 1 or not isinstance(results[0], dict) or results[0].get("result") is None:
        raise NoValuesFound(query)
    return finite(results[0]["result"], query)
