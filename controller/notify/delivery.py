"""One JSON POST to an alert endpoint, with a timeout, an optional proxy and safe errors.

Invariants: every call has an explicit timeout; the address (which usually embeds a
token) and any bearer token are never included in an error message.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import httpx

from controller.notify.contract import DEFAULT_NOTIFY_TIMEOUT, NotifyError

__all__ = ["post_json"]

MAX_BODY_IN_ERROR = 300


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
        async with httpx.AsyncClient(timeout=httpx.Timeout(timeout), proxy=proxy or None) as client:
            response = await client.post(address, json=payload, headers=dict(headers or {}))
    except httpx.TimeoutException:
        raise NotifyError(f"sending notification failed: timed out after {timeout:g}s") from None
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
        raise NotifyError(
            _redact(f"sending notification failed: {type(exc).__name__}: {exc}", redact)
        ) from None
    if response.status_code not in accept:
        body = response.text[:MAX_BODY_IN_ERROR]
        raise NotifyError(_redact(f"sending notification failed: HTTP {response.status_code} {body}", redact))


def _redact(text: str, values: Collection[str]) -> str:
    for value in sorted((v for v in values if v), key=len, reverse=True):
        text = text.replace(value, "***")
    return text
