"""Splunk Observability (SignalFx) metric provider: SignalFlow programs over the HTTP execute API.

Follows Flagger's provider in what it asks and how it reads the answer; Flagger runs the program
through the SignalFlow WebSocket client, this provider through SignalFlow's HTTP form of the same
call: ``POST <stream>/v2/signalflow/execute?start=<ms>&stop=<ms>&immediate=true`` with the program
as a ``text/plain`` body and ``X-SF-Token: <sf_token_key>``, answered with a Server-Sent Events
stream (``control-message``, ``metadata``, ``data``, ``message``, ``error`` events, one JSON
object each). ``address`` is required and is the API URL (``https://api.<realm>.signalfx.com``);
the stream URL is derived as Flagger does (``api.<realm>`` -> ``stream.<realm>``; ``ws``/``wss``
addresses become ``http``/``https``). The window is ten metric intervals ending now.

Reading the stream: every datapoint of every ``data`` event is collected; null values are
dropped; none left raises ``NoValuesFound``; datapoints of more than one time series (``tsId``)
are an error (Flagger's ``ErrMultipleValuesReturned``); otherwise the value is the last
datapoint. An ``error`` event or a ``CHANNEL_ABORT`` is an error, and so is a stream that ends
without ``END_OF_CHANNEL`` (a cut stream is not a complete answer). The whole stream is one
request under ``transport.send``: a total deadline (a computation that never ends fails at it)
and the 1 MiB cap. ``is_online`` calls ``GET <api>/v2/metric?limit=1`` and expects HTTP 200.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from controller.metrics.errors import Cause, NoValuesFound, ProviderConfigError, ProviderError
from controller.metrics.providers.skeleton import WindowedProvider, required_key, url_parts
from controller.metrics.providers.transport import backend_text, finite, request_headers, send

__all__ = ["SplunkProvider", "endpoints", "sse_events"]

TOKEN_SECRET = "sf_token_key"
TOKEN_HEADER = "X-SF-Token"
EXECUTE_PATH = "/v2/signalflow/execute"
VALIDATION_PATH = "/v2/metric"


def _with_host(address: str, scheme: str, old_label: str, new_label: str) -> str:
    parts = urlsplit(address)
    host = parts.netloc.rpartition("@")[2]
    if host.startswith(old_label + "."):
        host = new_label + host[len(old_label) :]
    return urlunsplit((scheme, host, parts.path.rstrip("/"), "", ""))


def endpoints(address: str) -> tuple[str, str]:
    """The SignalFlow execute URL and the validation URL for a configured ``address``."""
    scheme = urlsplit(address).scheme
    http = {"ws": "http", "wss": "https"}.get(scheme, scheme)
    stream = _with_host(address, http, "api", "stream") + EXECUTE_PATH
    api = _with_host(address, http, "stream", "api") + VALIDATION_PATH
    return stream, api


@dataclass(frozen=True)
class Event:
    """One Server-Sent Event: its ``event`` name and its ``data`` lines joined."""

    name: str
    data: str


def sse_events(text: str) -> Iterator[Event]:
    """The events of a ``text/event-stream`` body (the WHATWG format; comments and ids ignored)."""
    name, data = "", list[str]()
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if not line:
            if data:
                yield Event(name or "message", "\n".join(data))
            name, data = "", []
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            name = value
        elif field == "data":
            data.append(value)
    if data:
        yield Event(name or "message", "\n".join(data))


class SplunkProvider(WindowedProvider):
    """Runs SignalFlow programs against one Splunk Observability realm."""

    def _setup(self, secret: Mapping[str, str]) -> None:
        address = self._config.address.strip()
        if not address:
            raise ProviderConfigError("splunk endpoint is not set")
        url_parts(address, "splunk", ("http", "https", "ws", "wss"))
        token = required_key(secret, TOKEN_SECRET, "splunk")
        self._execute_url, self._validation_url = endpoints(address)
        self._headers = {TOKEN_HEADER: token}
        self._secrets = (token,)

    async def run_query(self, query: str) -> float:
        """Run the program over the window and return the last datapoint of its one time series."""
        now_ms = int(self._clock() * 1000)
        start = now_ms - int(self._window * 1000)
        params = {"start": str(start), "stop": str(now_ms), "immediate": "true"}
        headers = request_headers(
            self._config,
            {**self._headers, "Content-Type": "text/plain", "Accept": "text/event-stream"},
        )
        response = await send(
            self._config,
            "POST",
            self._execute_url,
            params=params,
            headers=headers,
            secrets=self._secrets,
            content=query.encode(),
        )
        if response.status_code != 200:
            raise ProviderError(
                f"error executing query: {_api_error(response.status_code, response.text, self._secrets)}"
            )
        return _last_value(response.text, query, self._secrets)

    async def is_online(self) -> bool:
        """True when the API accepts the token (HTTP 200); otherwise ``ProviderError``."""
        await self._get(self._validation_url, {"limit": "1"})
        return True


def _api_error(status: int, text: str, secrets: tuple[str, ...]) -> str:
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        body = None
    if isinstance(body, dict) and (body.get("message") or body.get("errorType")):
        what = ": ".join(str(body[k]) for k in ("errorType", "message") if body.get(k))
        return f"error response {status}: {backend_text(what, secrets)}"
    return f"error response {status}: {backend_text(text, secrets)}"


def _payload(event: Event, secrets: tuple[str, ...]) -> dict[str, Any]:
    try:
        payload = json.loads(event.data)
    except (ValueError, RecursionError):
        raise ProviderError(
            f"error unmarshaling {backend_text(event.name, secrets)} event: not JSON"
        ) from None
    if not isinstance(payload, dict):
        raise ProviderError(f"error unmarshaling {backend_text(event.name, secrets)} event: not an object")
    return payload


def _stream_error(payload: Mapping[str, Any], secrets: tuple[str, ...]) -> ProviderError:
    errors = payload.get("errors")
    if isinstance(errors, list) and errors:
        first = errors[0] if isinstance(errors[0], dict) else {}
        what = f"{first.get('code', '')} {first.get('context', '')}"
    else:
        what = ": ".join(str(payload[k]) for k in ("errorType", "message") if payload.get(k))
    return ProviderError(f"query error: {backend_text(what or 'error event', secrets)}")


def _datapoints(payload: Mapping[str, Any]) -> list[tuple[str, object]]:
    data = payload.get("data")
    if not isinstance(data, list):
        raise ProviderError("error unmarshaling data event: data is not a list")
    points: list[tuple[str, object]] = []
    for point in data:
        if not isinstance(point, dict) or not isinstance(point.get("tsId"), str):
            raise ProviderError("error unmarshaling data event: a datapoint has no tsId")
        points.append((point["tsId"], point.get("value")))
    return points


def _last_value(text: str, query: str, secrets: tuple[str, ...]) -> float:
    """The value of the answer's one time series; see the module docstring."""
    points: list[tuple[str, object]] = []
    ended = False
    for event in sse_events(text):
        if event.name == "data":
            points += _datapoints(_payload(event, secrets))
        elif event.name == "error":
            raise _stream_error(_payload(event, secrets), secrets)
        elif event.name == "control-message":
            control = _payload(event, secrets)
            if control.get("event") == "CHANNEL_ABORT":
                reason = control.get("abortInfo", {})
                reason = reason.get("sf_job_abortReason", "") if isinstance(reason, dict) else reason
                raise ProviderError(f"query error: computation aborted: {backend_text(str(reason), secrets)}")
            if control.get("event") == "END_OF_CHANNEL":
                ended = True
                break
    if not ended:
        raise ProviderError("error unmarshaling result: the stream ended before END_OF_CHANNEL")
    points = [(tsid, value) for tsid, value in points if value is not None]
    if not points:
        raise NoValuesFound(query)
    if len({tsid for tsid, _ in points}) > 1:
        raise ProviderError(
            f"query {backend_text(query, secrets)} returned multiple time series, expected one",
            Cause.REJECTED,
        )
    value = points[-1][1]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProviderError(f"error parsing value {backend_text(repr(value), secrets)}: not a number")
    return finite(value, query, secrets)
