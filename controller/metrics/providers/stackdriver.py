"""Google Cloud Monitoring (Stackdriver) metric provider: MQL through ``timeSeries:query``.

Follows Flagger's provider, which calls the Cloud Monitoring ``QueryTimeSeries`` method (gRPC
there, its REST form here): ``POST <address>/v3/projects/<project>/timeSeries:query`` with
``{"query": <MQL>}`` and ``Authorization: Bearer <access token>``. The value is the first value
of the first point of the first time series; no series, no point or no value raise
``NoValuesFound``. ``is_online`` sends an empty query: HTTP 200, or 400 ``INVALID_ARGUMENT`` (the
request reached the API and was judged) mean online; anything else (403 ``PERMISSION_DENIED``:
the account lacks ``monitoring.timeSeries.list``) is a ``ProviderError``.

Secret keys, as Flagger documents: ``project`` (the project ID, required) and
``serviceAccountKey`` (a service-account JSON key file). Without ``serviceAccountKey`` the key
file named by the controller's ``GOOGLE_APPLICATION_CREDENTIALS`` is used; the metadata server
(GKE workload identity) is not, as the outbound policy refuses it. The key is exchanged for an
access token (scope ``monitoring.read``) at the key's ``token_uri`` (``google_auth``), cached
until shortly before it expires.

Differences from Flagger, on purpose: an ``int64Value`` is its number (Flagger's
``GetDoubleValue`` reads 0 for it) and a boolean, string or distribution value is an error
(Flagger: 0); ``address`` overrides the endpoint ``https://monitoring.googleapis.com`` (private
endpoints and tests). Only the first page of the answer is read.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from controller.metrics.errors import ProviderConfigError, ProviderError
from controller.metrics.providers.contract import ProviderConfig
from controller.metrics.providers.google_auth import MAX_KEY_BYTES, TokenSource, service_account_key
from controller.metrics.providers.skeleton import first_item, url_parts
from controller.metrics.providers.transport import backend_text, finite, json_of, request_headers, send
from controller.outbound import OutboundResponse

__all__ = ["DEFAULT_ADDRESS", "SCOPE", "StackdriverProvider"]

DEFAULT_ADDRESS = "https://monitoring.googleapis.com"
SCOPE = "https://www.googleapis.com/auth/monitoring.read"
PROJECT_SECRET = "project"
KEY_SECRET = "serviceAccountKey"
CREDENTIALS_ENV = "GOOGLE_APPLICATION_CREDENTIALS"
_INT64 = re.compile(r"-?[0-9]{1,19}")


def _key_text(secret: Mapping[str, str], environ: Mapping[str, str]) -> tuple[str, str]:
    """The key file's text and where it came from: the secret, else the controller's environment."""
    if secret.get(KEY_SECRET):
        return secret[KEY_SECRET], KEY_SECRET
    path = environ.get(CREDENTIALS_ENV, "")
    if not path:
        raise ProviderConfigError(
            f"stackdriver credentials does not contain {KEY_SECRET} and {CREDENTIALS_ENV} is not set "
            "(the metadata server is not used)"
        )
    try:
        with Path(path).open("rb") as handle:
            raw = handle.read(MAX_KEY_BYTES + 1)
    except OSError as exc:
        raise ProviderConfigError(f"cannot read {CREDENTIALS_ENV}: {exc.strerror}") from None
    return raw.decode("utf-8", errors="replace"), CREDENTIALS_ENV


class StackdriverProvider:
    """Runs MQL queries in one Google Cloud project."""

    def __init__(
        self,
        config: ProviderConfig,
        secret: Mapping[str, str] | None,
        *,
        environ: Mapping[str, str] | None = None,
        token_source: TokenSource | None = None,
    ) -> None:
        credentials = secret or {}
        project = credentials.get(PROJECT_SECRET, "").strip()
        if not project:
            raise ProviderConfigError(f"{config.type} credentials does not contain a project id")
        address = (config.address or "").strip() or DEFAULT_ADDRESS
        url_parts(address, "stackdriver")
        if token_source is None:
            raw, where = _key_text(credentials, os.environ if environ is None else environ)
            token_source = TokenSource(config, service_account_key(raw, where), SCOPE)
        self._config = config
        self._url = f"{address.rstrip('/')}/v3/projects/{quote(project, safe='')}/timeSeries:query"
        self._tokens = token_source

    async def run_query(self, query: str) -> float:
        """Return the first value of the first point of the first time series of the MQL query."""
        response = await self._post(query)
        if response.status_code != 200:
            raise ProviderError(f"error requesting stackdriver: error response {self._error(response)}")
        return _first_value(json_of(response), query, self._tokens.secrets)

    async def is_online(self) -> bool:
        """True when the API judged an empty query (200, or 400 INVALID_ARGUMENT)."""
        response = await self._post("")
        if response.status_code == 200:
            return True
        if response.status_code == 400 and _status(response) == "INVALID_ARGUMENT":
            return True
        raise ProviderError(f"unexpected status code: {self._error(response)}")

    async def _post(self, query: str) -> OutboundResponse:
        token = await self._tokens.token()
        headers = request_headers(
            self._config, {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        )
        response = await send(
            self._config,
            "POST",
            self._url,
            headers=headers,
            secrets=self._tokens.secrets,
            json_body={"query": query},
        )
        if response.status_code == 401:
            self._tokens.forget()
        return response

    def _error(self, response: OutboundResponse) -> str:
        """``<code> <STATUS>: <message>`` from a google.rpc.Status body, scrubbed and short."""
        secrets = self._tokens.secrets
        body = _error_body(response)
        if body is None:
            return f"{response.status_code}: {backend_text(response.text, secrets)}"
        status = backend_text(str(body.get("status", "")), secrets)
        message = backend_text(str(body.get("message", "")), secrets)
        return f"{response.status_code} {status}: {message}"


def _error_body(response: OutboundResponse) -> Mapping[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else None


def _status(response: OutboundResponse) -> str:
    body = _error_body(response)
    return str(body.get("status", "")) if body is not None else ""


def _first_value(body: Any, query: str, secrets: tuple[str, ...]) -> float:
    typed = first_item(body, query, (("timeSeriesData", 0), ("pointData", 0), ("values", 0)))
    return _typed_value(typed, query, secrets)


def _typed_value(typed: object, query: str, secrets: tuple[str, ...]) -> float:
    """A ``TypedValue``: ``doubleValue`` (a number, or "NaN"/"Infinity") or ``int64Value`` (a string)."""
    if not isinstance(typed, dict):
        raise ProviderError("error unmarshaling result: a value is not a TypedValue object")
    if "doubleValue" in typed:
        return finite(typed["doubleValue"], query, secrets)
    if "int64Value" in typed:
        raw = typed["int64Value"]
        if isinstance(raw, bool) or not isinstance(raw, int | str) or not _INT64.fullmatch(str(raw)):
            raise ProviderError(f"error parsing value {backend_text(repr(raw), secrets)}: not a number")
        return finite(int(raw), query, secrets)
    kinds = ", ".join(sorted(str(k) for k in typed)) or "none"
    raise ProviderError(f"error parsing value: {backend_text(kinds, secrets)} is not a number")
