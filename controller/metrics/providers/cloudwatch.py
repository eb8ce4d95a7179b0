"""Amazon CloudWatch metric provider: ``GetMetricData`` over the AWS JSON 1.0 protocol, SigV4-signed.

Follows Flagger's provider: ``region`` is required; the query is a JSON array of
``MetricDataQuery`` objects (``Id``, ``Expression``, ``MetricStat``, ``ReturnData`` ...) sent
as ``MetricDataQueries`` with ``MaxDatapoints`` 20 over a window of ten metric intervals
ending now; the value is the first value of the first returned result, and no result or no
values raise ``NoValuesFound``. Up to 3 retries after throttling, a 5xx or a failed connection,
as Flagger's AWS session does. ``is_online`` sends an empty query: HTTP 200 or 400 (the
request reached CloudWatch and was judged) mean online, anything else (403: no
``cloudwatch:GetMetricData`` permission) is a ``ProviderError``.

Credentials: as Flagger, the controller's own AWS credentials from its environment
(``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, optional ``AWS_SESSION_TOKEN``). A
``secretRef`` with ``aws_access_key_id`` and ``aws_secret_access_key`` (and optionally
``aws_session_token``) takes precedence; that is a gitcanary extension. The instance metadata
service is never called (the outbound policy refuses it). ``address`` overrides the endpoint
``https://monitoring.<region>.amazonaws.com`` (for VPC endpoints and emulators).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from controller.metrics.durations import interval_seconds
from controller.metrics.errors import NoValuesFound, ProviderConfigError, ProviderError
from controller.metrics.providers.contract import ProviderConfig
from controller.metrics.providers.sigv4 import AwsCredentials, sign
from controller.metrics.providers.skeleton import WINDOW_MULTIPLIER, first_item, url_parts
from controller.metrics.providers.transport import (
    backend_text,
    error_from_response,
    finite,
    json_of,
    request_headers,
    send,
)
from controller.outbound import OutboundResponse

__all__ = ["CloudWatchProvider", "credentials_from"]

MAX_RETRIES = 3
MAX_DATAPOINTS = 20
TARGET = "GraniteServiceVersion20100801.GetMetricData"
CONTENT_TYPE = "application/x-amz-json-1.0"
GO_ZERO_TIME = -62135596800
"""Go's ``time.Time{}`` in Unix seconds, which Flagger's ``IsOnline`` sends as both ends."""


def credentials_from(secret: Mapping[str, str] | None, environ: Mapping[str, str]) -> AwsCredentials:
    """The secret's keys when it has any ``aws_*`` key, else the controller's environment."""
    if secret and any(key.startswith("aws_") for key in secret):
        access = secret.get("aws_access_key_id", "")
        key = secret.get("aws_secret_access_key", "")
        token = secret.get("aws_session_token", "")
        where = "secretRef (aws_access_key_id and aws_secret_access_key)"
    else:
        access = environ.get("AWS_ACCESS_KEY_ID", "")
        key = environ.get("AWS_SECRET_ACCESS_KEY", "")
        token = environ.get("AWS_SESSION_TOKEN", "")
        where = "controller environment (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
    if not access or not key:
        raise ProviderConfigError(f"cloudwatch credentials not found in the {where}")
    return AwsCredentials(access, key, token)


class CloudWatchProvider:
    """Runs GetMetricData queries in one AWS region."""

    def __init__(
        self,
        config: ProviderConfig,
        secret: Mapping[str, str] | None = None,
        *,
        interval: str = "1m",
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        region = config.region.strip()
        if not region:
            raise ProviderConfigError("region not specified")
        window = interval_seconds(interval)
        self._credentials = credentials_from(secret, os.environ if environ is None else environ)
        suffix = ".com.cn" if region.startswith("cn-") else ".com"
        address = config.address.strip() or f"https://monitoring.{region}.amazonaws{suffix}"
        parts = url_parts(address, "cloudwatch")
        self._config = config
        self._region = region
        self._url = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path or '/'}"
        self._host = parts.netloc.rpartition("@")[2]
        self._path = parts.path or "/"
        self._window = WINDOW_MULTIPLIER * window
        self._clock = clock
        self._secrets = tuple(
            s for s in (self._credentials.secret_access_key, self._credentials.session_token) if s
        )

    async def run_query(self, query: str) -> float:
        """Return the first value of the first result of the ``MetricDataQuery`` list ``query``."""
        try:
            queries = json.loads(query)
        except ValueError as exc:
            raise ProviderError(f"error unmarshaling query: {exc}") from None
        if not isinstance(queries, list) or not all(isinstance(q, dict) for q in queries):
            raise ProviderError("error unmarshaling query: expected a JSON array of MetricDataQuery objects")
        end = round(self._clock(), 3)
        request = {
            "MetricDataQueries": queries,
            "StartTime": round(end - self._window, 3),
            "EndTime": end,
            "MaxDatapoints": MAX_DATAPOINTS,
        }
        response = await self._call(request)
        if response.status_code != 200:
            raise ProviderError(f"error requesting cloudwatch: {_aws_error(response, self._secrets)}")
        return _first_value(json_of(response), query)

    async def is_online(self) -> bool:
        """True when CloudWatch judged an empty query (200 or 400); otherwise ``ProviderError``."""
        request = {"MetricDataQueries": [], "StartTime": GO_ZERO_TIME, "EndTime": GO_ZERO_TIME}
        response = await self._call(request)
        if response.status_code in (200, 400):
            return True
        raise ProviderError(f"unexpected status code: {_aws_error(response, self._secrets)}")

    async def _call(self, request: Mapping[str, Any]) -> OutboundResponse:
        body = json.dumps(request, separators=(",", ":")).encode()
        own = {"Content-Type": CONTENT_TYPE, "X-Amz-Target": TARGET}
        signed = sign(
            self._credentials,
            method="POST",
            host=self._host,
            path=self._path,
            region=self._region,
            service="monitoring",
            headers=own,
            body=body,
        )
        headers = request_headers(self._config, {"Host": self._host, **own, **signed})
        return await send(
            self._config,
            "POST",
            self._url,
            headers=headers,
            secrets=self._secrets,
            content=body,
            retries=MAX_RETRIES,
        )


def _aws_error(response: OutboundResponse, secrets: tuple[str, ...]) -> str:
    try:
        body = response.json()
    except ValueError:
        return str(error_from_response(response, secrets))
    if not isinstance(body, dict):
        return str(error_from_response(response, secrets))
    kind = str(body.get("__type", "")).rpartition("#")[2]
    message = str(body.get("message") or body.get("Message") or "")
    return f"{response.status_code} {backend_text(kind, secrets)}: {backend_text(message, secrets)}"


def _first_value(body: Any, query: str) -> float:
    value = first_item(body, query, (("MetricDataResults", 0), ("Values", 0)))
    if value is None:
        raise NoValuesFound(query)
    return finite(value, query)
