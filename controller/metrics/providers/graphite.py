"""Graphite metric provider: the render URL API, ``GET <address>/render?<query>&format=json``.

Follows Flagger's provider: the query is a URL query string (``target=...``, with
whitespace runs collapsed to one space), ``format=json`` is forced, basic auth comes from
``username``/``password`` in the secret when a ``secretRef`` is set, and the value is the
last non-null datapoint across all returned targets. No such datapoint raises
``NoValuesFound``. ``is_online`` runs ``target=test`` and accepts an empty answer.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from controller.metrics.errors import NoValuesFound, ProviderConfigError, ProviderError
from controller.metrics.providers.contract import ProviderConfig
from controller.metrics.providers.transport import (
    backend_text,
    error_from_response,
    get,
    request_headers,
    strip_userinfo,
)

__all__ = ["ONLINE_QUERY", "GraphiteProvider"]

ONLINE_QUERY = "target=test"
_WHITESPACE = re.compile(r"\s+")


class GraphiteProvider:
    """Runs Graphite render queries."""

    def __init__(
        self,
        config: ProviderConfig,
        secret: Mapping[str, str] | None = None,
    ) -> None:
        address = config.address.strip()
        if not address.startswith(("http://", "https://")):
            raise ProviderConfigError(f"{config.type} address {strip_userinfo(address)!r} is not a valid URL")
        self._config = config
        self._endpoint = address.rstrip("/") + "/render"
        self._headers: dict[str, str] = {}
        self._secrets: tuple[str, ...] = ()
        if config.has_secret:
            credentials = secret or {}
            username = credentials.get("username")
            password = credentials.get("password")
            if username is None:
                raise ProviderConfigError(f"{config.type} credentials does not contain a username")
            if password is None:
                raise ProviderConfigError(f"{config.type} credentials does not contain a password")
            encoded = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
            self._headers["Authorization"] = f"Basic {encoded}"
            self._secrets = (username, password, encoded)

    async def run_query(self, query: str) -> float:
        """Return the last non-null datapoint of the render answer."""
        compact = _WHITESPACE.sub(" ", query).strip()
        params = [(k, v) for k, v in parse_qsl(compact, keep_blank_values=True) if k != "format"]
        params.append(("format", "json"))
        headers = request_headers(self._config, self._headers)
        response = await get(
            self._config, self._endpoint, params=params, headers=headers, secrets=self._secrets
        )
        if response.status_code >= 400:
            raise error_from_response(response, self._secrets)
        try:
            body = response.json()
        except ValueError:
            raise ProviderError("error unmarshaling result: not JSON") from None
        return _last_datapoint(body, compact)

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
