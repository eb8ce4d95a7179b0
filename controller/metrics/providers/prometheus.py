"""Prometheus metric provider: instant queries through ``GET <address>/api/v1/query``.

Follows Flagger's provider: whitespace runs in the query collapse to one space; a secret
with ``token`` means bearer auth, otherwise it must hold ``username`` and ``password``
(basic auth); ``insecureSkipVerify`` disables TLS verification and ``headers`` are sent
with every request. The value is the first sample of the result; an empty result or NaN
raises ``NoValuesFound``. ``is_online`` runs ``vector(1)`` and expects 1.

Invariant: credentials are only ever placed in the Authorization header, and every
error text is scrubbed of them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from controller.metrics.errors import NoValuesFound, ProviderError
from controller.metrics.providers.contract import ProviderConfig
from controller.metrics.providers.skeleton import (
    HttpProvider,
    basic_auth,
    http_address,
    query_text,
    status_below_400,
)
from controller.metrics.providers.transport import backend_text

__all__ = ["ONLINE_QUERY", "PrometheusProvider"]

ONLINE_QUERY = "vector(1)"


class PrometheusProvider(HttpProvider):
    """Runs PromQL instant queries against one Prometheus-compatible API."""

    def __init__(self, config: ProviderConfig, secret: Mapping[str, str] | None = None) -> None:
        super().__init__(config)
        self._endpoint = http_address(config.address, config.type) + "/api/v1/query"
        if config.has_secret or secret:
            self._headers, self._secrets = _auth_from_secret(config.type, secret or {})

    async def run_query(self, query: str) -> float:
        """Run ``query`` as an instant query and return the first sample value."""
        compact = query_text(query)
        response = await self._get(self._endpoint, {"query": compact}, status_below_400)
        try:
            body = response.json()
        except ValueError:
            raise ProviderError(
                f"error unmarshaling result: {backend_text(response.text, self._secrets)!r}"
            ) from None
        return _first_value(body, compact, self._secrets)

    async def is_online(self) -> bool:
        """True when ``vector(1)`` answers 1; raises ``ProviderError`` if unreachable."""
        return await self.run_query(ONLINE_QUERY) == 1.0


def _auth_from_secret(
    provider_type: str, secret: Mapping[str, str]
) -> tuple[dict[str, str], tuple[str, ...]]:
    token = secret.get("token")
    if token:
        return {"Authorization": f"Bearer {token}"}, (token,)
    return basic_auth(provider_type, secret)


def _first_value(body: Any, query: str, secrets: tuple[str, ...]) -> float:
    if not isinstance(body, dict):
        raise ProviderError("error unmarshaling result: not a JSON object")
    if body.get("status") == "error":
        reason = f"{body.get('errorType', 'error')}: {body.get('error', '')}"
        raise ProviderError(f"query error {backend_text(reason, secrets)}")
    data = body.get("data")
    if not isinstance(data, dict):
        raise ProviderError("error unmarshaling result: missing data")
    result = data.get("result")
    sample: Any = None
    if data.get("resultType") == "scalar" and isinstance(result, list):
        sample = result
    elif isinstance(result, list):
        for series in result:
            if isinstance(series, dict) and isinstance(series.get("value"), list):
                sample = series["value"]
                break
    if not isinstance(sample, list) or len(sample) != 2 or not isinstance(sample[1], str):
        raise NoValuesFound(query)
    try:
        value = float(sample[1])
    except ValueError:
        raise ProviderError(f"error parsing sample value {backend_text(sample[1], secrets)!r}") from None
    if math.isnan(value):
        raise NoValuesFound(query)
    return value
