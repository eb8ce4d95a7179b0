"""Graphite metric provider: the render URL API, ``GET <address>/render?<query>&format=json``.

Follows Flagger's provider: the query is a URL query string (``target=...``, with
whitespace runs collapsed to one space), ``format=json`` is forced, basic auth comes from
``username``/``password`` in the secret when a ``secretRef`` is set, and the value is the
last non-null datapoint across all returned targets. No such datapoint raises
``NoValuesFound``. ``is_online`` runs ``target=test`` and accepts an empty answer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from controller.metrics.errors import NoValuesFound, ProviderError
from controller.metrics.providers.contract import ProviderConfig
from controller.metrics.providers.skeleton import (
    HttpProvider,
    basic_auth,
    http_address,
    query_text,
    status_below_400,
)
from controller.metrics.providers.transport import backend_text, json_of

__all__ = ["ONLINE_QUERY", "GraphiteProvider"]

ONLINE_QUERY = "target=test"


class GraphiteProvider(HttpProvider):
    """Runs Graphite render queries."""

    def __init__(self, config: ProviderConfig, secret: Mapping[str, str] | None = None) -> None:
        super().__init__(config)
        self._endpoint = http_address(config.address, config.type) + "/render"
        if config.has_secret:
            self._headers, self._secrets = basic_auth(config.type, secret or {})

    async def run_query(self, query: str) -> float:
        """Return the last non-null datapoint of the render answer."""
        compact = query_text(query)
        params = [(k, v) for k, v in parse_qsl(compact, keep_blank_values=True) if k != "format"]
        params.append(("format", "json"))
        response = await self._get(self._endpoint, params, status_below_400)
        return _last_datapoint(json_of(response), compact)

    async def is_online(self) -> bool:
        """True when the render API answers; an empty answer still counts as online."""
        try:
            await self.run_query(ONLINE_QUERY)
        except NoValuesFound:
            return True
        return True


def _last_datapoint(body: Any, query: str) -> float:
    if not isinstance(body, list):
        raise ProviderError("error unmarshaling result: expected a list of targets")
    value: float | None = None
    for target in body:
        points = target.get("datapoints") if isinstance(target, dict) else None
        if not isinstance(points, list):
            continue
        for point in points:
            if isinstance(point, list) and point and point[0] is not None:
                try:
                    value = float(point[0])
                except (TypeError, ValueError, OverflowError):
                    raise ProviderError(
                        f"error unmarshaling value: {backend_text(repr(point[0]), ())}"
                    ) from None
    if value is None or math.isnan(value):
        raise NoValuesFound(query)
    return value
