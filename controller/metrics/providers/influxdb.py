"""InfluxDB metric provider: Flux queries through the InfluxDB 2 query API.

Follows Flagger's provider (the influxdb-client-go request): ``address`` is required; with a
``secretRef`` the secret must hold ``token`` (sent as ``Authorization: Token <token>``) and
``org``. The request is ``POST <address>/api/v2/query?org=<org>`` with the JSON body
``{"query": <flux>, "type": "flux", "dialect": {...}}`` asking for annotated CSV. The value
is ``_value`` of the first record; an empty ``_value`` raises ``NoValuesFound``.

Differences from Flagger, on purpose: an answer with no record raises ``NoValuesFound`` (Flagger
returns 0, a number that would pass a ``max`` threshold); ``long`` and ``unsignedLong`` values
count as numbers (Flagger accepts only ``double``); an error row in the CSV is an error.
``is_online`` runs ``from(bucket: "default") |> range(start: -2h)`` and expects HTTP 200.
The InfluxDB 1.x InfluxQL API (``/query``) is not this path: a 1.x server answers Flux only
when ``flux-enabled`` is set, through its 2.x compatibility endpoint used here.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping

from controller.metrics.errors import NoValuesFound, ProviderConfigError, ProviderError
from controller.metrics.providers.contract import ProviderConfig
from controller.metrics.providers.skeleton import http_address
from controller.metrics.providers.transport import (
    backend_text,
    error_from_response,
    finite,
    request_headers,
    send,
)
from controller.outbound import OutboundResponse

__all__ = ["ONLINE_QUERY", "InfluxdbProvider"]

ONLINE_QUERY = 'from(bucket: "default") |> range(start: -2h)'
DIALECT = {"annotations": ["datatype", "group", "default"], "delimiter": ",", "header": True}
_QUERY_API_ERROR = "error accessing influxdb query api: "
NUMERIC_TYPES = frozenset({"double", "long", "unsignedLong"})


class InfluxdbProvider:
    """Runs Flux queries against one InfluxDB 2 API."""

    def __init__(self, config: ProviderConfig, secret: Mapping[str, str] | None = None) -> None:
        self._config = config
        self._endpoint = http_address(config.address, config.type) + "/api/v2/query"
        self._org = ""
        self._headers = {"Content-Type": "application/json", "Accept": "text/csv"}
        self._secrets: tuple[str, ...] = ()
        if config.has_secret:
            credentials = secret or {}
            token, org = credentials.get("token"), credentials.get("org")
            if not token:
                raise ProviderConfigError(
                    f"{config.type} credentials does not contain an authentication token"
                )
            if not org:
                raise ProviderConfigError(f"{config.type} credentials does not contain an organisation")
            self._headers["Authorization"] = f"Token {token}"
            self._org = org
            self._secrets = (token,)

    async def run_query(self, query: str) -> float:
        """Return ``_value`` of the first record of the Flux query's answer."""
        response = await self._post(query)
        if response.status_code != 200:
            raise error_from_response(response, self._secrets, _QUERY_API_ERROR)
        return _first_value(response.text, query, self._secrets)

    async def is_online(self) -> bool:
        """True when the query API answers a trivial query with HTTP 200."""
        response = await self._post(ONLINE_QUERY)
        if response.status_code != 200:
            raise error_from_response(response, self._secrets, _QUERY_API_ERROR)
        return True

    async def _post(self, query: str) -> OutboundResponse:
        headers = request_headers(self._config, self._headers)
        return await send(
            self._config,
            "POST",
            self._endpoint,
            params={"org": self._org},
            headers=headers,
            secrets=self._secrets,
            json_body={"query": query, "type": "flux", "dialect": DIALECT},
        )


def _first_value(text: str, query: str, secrets: tuple[str, ...]) -> float:
    """The first record's ``_value`` in annotated CSV (several tables, each with its own header)."""
    datatypes: list[str] = []
    header: list[str] | None = None
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise ProviderError(f"error unmarshaling result: {exc}") from None
    for row in rows:
        if not row or all(not cell for cell in row):
            header = None  # a blank line ends a table; the next one brings its own annotations
            continue
        if row[0] == "#datatype":
            datatypes, header = row, None
        elif row[0].startswith("#"):
            continue
        elif header is None:
            if row[0] != "":
                raise ProviderError("error unmarshaling result: not annotated CSV")
            header = row
        elif "error" in header and "_value" not in header:
            raise ProviderError(f"query error: {backend_text(row[header.index('error')], secrets)}")
        elif "_value" in header:
            return _cell_value(row, header, datatypes, query, secrets)
        else:
            raise ProviderError("error unmarshaling result: no _value column")
    raise NoValuesFound(query)


def _cell_value(
    row: list[str], header: list[str], datatypes: list[str], query: str, secrets: tuple[str, ...]
) -> float:
    column = header.index("_value")
    if column >= len(row):
        raise ProviderError("error unmarshaling result: short CSV row")
    cell = row[column]
    kind = datatypes[column] if column < len(datatypes) else "double"
    if cell == "":
        raise NoValuesFound(query)
    if kind not in NUMERIC_TYPES:
        raise ProviderError(f"invalid response: _value is {backend_text(kind, secrets)}, not a number")
    return finite(cell, query, secrets)
