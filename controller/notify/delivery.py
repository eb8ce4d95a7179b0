"""One JSON POST to an alert endpoint, with a total deadline, an optional proxy and safe errors.

Invariants:
- ``timeout`` bounds the whole send (connect, request, status line, the part of the body that
  is read), not each read: an endpoint that never answers, or trickles its answer byte by byte,
  costs at most ``timeout`` seconds.
- A successful answer's body is never read; of an error answer at most ``MAX_BODY_READ`` bytes
  are read, and the error quotes at most ``MAX_BODY_IN_ERROR`` printable characters of it.
- The address (which usually embeds a token), the proxy and any secret are never part of an
  error message.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Collection, Mapping

import httpx

from controller.notify.contract import DEFAULT_NOTIFY_TIMEOUT, NotifyError

__all__ = ["MAX_BODY_IN_ERROR", "MAX_BODY_READ", "post_json", "sanitized_fragment"]

MAX_BODY_IN_ERROR = 120
"""Characters of an error response's body that an error message (and so an Event) may quote."""

MAX_BODY_READ = 4096
"""Bytes of an error response's body that are read at all; the rest is never downloaded."""

_BLANKS = re.compile(r"\s+")


async def post_json(
    address: str,
    payload: object,
    *,
    proxy: str | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_NOTIFY_TIMEOUT,
    accept: Collection[int] = (200,),
    secrets: Collection[str] = (),
) -> None:
    """POST ``payload`` as JSON; raise ``NotifyError`` unless the status is in ``accept``."""
    redact = [address, proxy or "", *secrets]
    try:
        async with asyncio.timeout(timeout):
            status, head = await _post(address, payload, proxy, headers, timeout, accept)
    except (TimeoutError, httpx.TimeoutException):
        raise NotifyError(f"sending notification failed: no answer within {timeout:g}s") from None
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
        raise NotifyError(
            _redact(f"sending notification failed: {type(exc).__name__}: {exc}", redact)
        ) from None
    if status not in accept:
        fragment = sanitized_fragment(_redact(head.decode("utf-8", errors="replace"), redact))
        raise NotifyError(
            f"sending notification failed: HTTP {status}" + (f": {fragment}" if fragment else "")
        )


async def _post(
    address: str,
    payload: object,
    proxy: str | None,
    headers: Mapping[str, str] | None,
    timeout: float,
    accept: Collection[int],
) -> tuple[int, bytes]:
    """(status, the first bytes of the body when the status is not accepted)."""
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(timeout), proxy=proxy or None) as client,
        client.stream("POST", address, json=payload, headers=dict(headers or {})) as response,
    ):
        if response.status_code in accept:
            return response.status_code, b""
        head = bytearray()
        async for chunk in response.aiter_bytes():
            head += chunk
            if len(head) >= MAX_BODY_READ:
                break
        return response.status_code, bytes(head[:MAX_BODY_READ])


def sanitized_fragment(text: str, limit: int = MAX_BODY_IN_ERROR) -> str:
    """``text`` as one short printable line: control characters dropped, blanks collapsed."""
    printable = "".join(c if c.isprintable() else " " for c in text)
    line = _BLANKS.sub(" ", printable).strip()
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _redact(text: str, values: Collection[str]) -> str:
    for value in sorted((v for v in values if v), key=len, reverse=True):
        text = text.replace(value, "***")
    return text
