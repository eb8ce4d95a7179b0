"""JSON over HTTP for the forge adapters: one request, a timeout, and a classified error.

Invariants:
- Every request has an explicit timeout (:data:`DEFAULT_TIMEOUT` unless the adapter gives one)
  and never follows redirects (a redirect could carry the token to another host).
- Failures become :class:`~controller.gitops.forges.base.ForgeError`: transport errors,
  timeouts, 5xx and rate limiting (429, or 403 with ``x-ratelimit-remaining: 0`` or a
  rate-limit message) are retriable; any other non-2xx answer is not.
- Error messages hold the method, the API path, the status and the forge's own message,
  redacted of the token; never a header.
"""

from __future__ import annotations

import functools
import json
import math
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from controller.gitops.forges.base import ForgeError
from controller.gitops.plumbing.credentials import redact

DEFAULT_TIMEOUT = httpx.Timeout(15.0, connect=5.0)
USER_AGENT = "gitcanary"
_MESSAGE_LIMIT = 300


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One verifying TLS context for every call (building one per client costs ~50 ms)."""
    return ssl.create_default_context()


@dataclass(frozen=True)
class RestClient:
    """Sends JSON requests to one API base with fixed headers (the auth header among them)."""

    provider: str
    base_url: str
    headers: Mapping[str, str] = field(repr=False)
    token: str = field(repr=False)
    timeout: httpx.Timeout = field(default_factory=lambda: DEFAULT_TIMEOUT)

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> Any:
        """Send one request and return the decoded JSON answer (None for an empty body)."""
        where = f"{self.provider} {method} {path}"
        headers = {"User-Agent": USER_AGENT, **self.headers}
        try:
            async with httpx.AsyncClient(
                timeout=self.timeout, follow_redirects=False, verify=_tls_context()
            ) as client:
                response = await client.request(
                    method, self.base_url + path, params=params, json=body, headers=headers
                )
        except httpx.TimeoutException as error:
            raise self._error(f"{where}: timed out ({type(error).__name__})", retriable=True) from None
        except httpx.HTTPError as error:
            raise self._error(f"{where}: {type(error).__name__}: {error}", retriable=True) from None
        if not response.is_success:
            raise self._status_error(where, response)
        if not response.content:
            return None
        try:
            return decode_json(response.content)
        except ValueError:
            raise self._error(
                f"{where}: HTTP {response.status_code} answer is not JSON", retriable=False
            ) from None

    def _error(
        self, message: str, *, retriable: bool, status: int | None = None, retry_after: float | None = None
    ) -> ForgeError:
        return ForgeError(
            redact(message, [self.token]), retriable=retriable, status=status, retry_after=retry_after
        )

    def _status_error(self, where: str, response: httpx.Response) -> ForgeError:
        status = response.status_code
        message = forge_message(response)
        rate_limited = status == 429 or (
            status == 403
            and (
                response.headers.get("x-ratelimit-remaining") == "0"
                or "retry-after" in response.headers
                or "rate limit" in message.lower()
            )
        )
        retriable = rate_limited or status >= 500
        kind = "rate limited" if rate_limited else f"HTTP {status}"
        text = f"{where}: {kind}" + (f": {message}" if message else "")
        return self._error(text, retriable=retriable, status=status, retry_after=retry_after(response))


def decode_json(content: bytes) -> Any:
    """The JSON value of a body; ValueError when it is not JSON or nests too deeply to decode."""
    try:
        return json.loads(content)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def forge_message(response: httpx.Response) -> str:
    """The forge's error message: JSON ``message``/``error``/``errors`` or the text, shortened
    and printable (control characters, such as terminal escapes, become spaces).

    The body is read as UTF-8 whatever charset the answer declares: forge APIs speak UTF-8, and
    a declared charset Python cannot decode with (``utf-16`` without a BOM, ``rot13``) must not
    turn an error answer into a crash."""
    try:
        payload = decode_json(response.content)
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        parts = [_flat(payload[key]) for key in ("message", "error", "errors") if payload.get(key)]
        text = "; ".join(parts)
    else:
        text = response.content[: _MESSAGE_LIMIT * 4].decode("utf-8", errors="replace")
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    return text[:_MESSAGE_LIMIT] + ("..." if len(text) > _MESSAGE_LIMIT else "")


def _flat(value: Any) -> str:
    """A JSON value as text; a structure too deep to print is named, not printed."""
    try:
        return str(value)[: _MESSAGE_LIMIT * 4]
    except RecursionError:
        return f"<{type(value).__name__} nested too deeply>"


def retry_after(response: httpx.Response, now: float | None = None) -> float | None:
    """Seconds to wait: ``Retry-After`` (seconds), else ``x-ratelimit-reset`` (epoch seconds).

    None when the header is absent or no finite number (``inf``, ``nan``, ``1e999``)."""
    header = response.headers.get("retry-after")
    if header is not None:
        return _finite_delay(header, 0.0)
    reset = response.headers.get("x-ratelimit-reset")
    if reset is not None and response.headers.get("x-ratelimit-remaining") == "0":
        return _finite_delay(reset, time.time() if now is None else now)
    return None


def _finite_delay(header: str, since: float) -> float | None:
    try:
        value = float(header) - since
    except ValueError:
        return None
    return max(0.0, value) if math.isfinite(value) else None
