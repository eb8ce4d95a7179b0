"""One JSON POST to an alert endpoint: URL policy, optional proxy, total deadline, safe errors.

Invariants:
- ``timeout`` bounds the whole send (DNS, connect, request, status line, the part of the body
  that is read), not each read: an endpoint that never answers, or trickles its answer byte by
  byte, costs at most ``timeout`` seconds.
- A successful answer's body is never read; of an error answer at most ``MAX_BODY_READ`` bytes
  are read, and the error quotes at most ``MAX_BODY_IN_ERROR`` printable characters of it.
- Success is any 2xx status, as in Flagger 1.44 (``pkg/notifier/client.go``).
- The address (which usually embeds a token), the proxy and any secret are never part of an
  error message.
- The controller's URL policy (:mod:`controller.url_policy`) applies to every send. Without a
  proxy, every address the target's host resolves to is checked, and again the address the
  connection reached. With a proxy:

  * the proxy is the address the controller connects to: it is checked like a target (its
    resolved addresses and the connected peer), so an AlertProvider's ``proxy`` cannot reach a
    metadata endpoint or leave the allow-list;
  * the target is still checked before anything is sent: its scheme, the metadata host names,
    a literal address, and every address its host resolves to here;
  * a target host that does not resolve here (the usual case when only the proxy may resolve
    external names) is sent to the proxy only when no allow-list is set or a URL prefix of the
    allow-list names it; a CIDR entry cannot vouch for a name that has no address here;
  * proxy environment variables (``HTTPS_PROXY``...) are ignored: only an explicit proxy is used.

  ``NotifyRefused`` reports a refusal; no retry can fix it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Collection, Mapping
from typing import Final

import httpx

from controller.notify.contract import DEFAULT_NOTIFY_TIMEOUT, NotifyError
from controller.url_policy import TransportFailed, UrlPolicy, URLRefused

__all__ = [
    "MAX_BODY_IN_ERROR",
    "MAX_BODY_READ",
    "SUCCESS",
    "NotifyRefused",
    "post_json",
    "sanitized_fragment",
]

MAX_BODY_IN_ERROR: Final = 120
"""Characters of an error response's body that an error message (and so an Event) may quote."""

MAX_BODY_READ: Final = 4096
"""Bytes of an error response's body that are read at all; the rest is never downloaded."""

SUCCESS: Final = frozenset(range(200, 300))
"""The statuses that mean delivered (Flagger: ``200 <= status < 300``)."""

_BLANKS = re.compile(r"\s+")


class NotifyRefused(NotifyError):
    """The URL policy refused the alert's target or proxy; no retry can change that."""


async def post_json(
    address: str,
    payload: object,
    *,
    proxy: str | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_NOTIFY_TIMEOUT,
    accept: Collection[int] = SUCCESS,
    secrets: Collection[str] = (),
    policy: UrlPolicy | None = None,
) -> None:
    """POST ``payload`` as JSON; raise ``NotifyError`` unless the status is in ``accept``."""
    redact = [address, proxy or "", *secrets]
    rules = UrlPolicy.from_env() if policy is None else policy
    try:
        async with asyncio.timeout(timeout):
            target, via = await _checked(rules, address, proxy or None)
            status, head = await _post(rules, target, via, payload, headers, timeout, accept)
    except (TimeoutError, httpx.TimeoutException):
        raise NotifyError(f"sending notification failed: no answer within {timeout:g}s") from None
    except URLRefused as exc:
        raise NotifyRefused(_redact(f"sending notification refused: {exc}", redact)) from None
    except TransportFailed as exc:
        raise NotifyError(_redact(f"sending notification failed: {exc}", redact)) from None
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
        raise NotifyError(
            _redact(f"sending notification failed: {type(exc).__name__}: {exc}", redact)
        ) from None
    if status not in accept:
        fragment = sanitized_fragment(_redact(head.decode("utf-8", errors="replace"), redact))
        raise NotifyError(
            f"sending notification failed: HTTP {status}" + (f": {fragment}" if fragment else "")
        )


async def _checked(rules: UrlPolicy, address: str, proxy: str | None) -> tuple[httpx.URL, httpx.URL | None]:
    """The parsed target and proxy, once the policy allows both (see the module docstring)."""
    target = rules.parse(address)
    if proxy is None:
        rules.check_addresses(target, await rules.resolve(target))
        return target, None
    via = rules.parse(proxy)
    rules.check_addresses(via, await rules.resolve(via))
    try:
        addresses = await rules.resolve(target)
    except TransportFailed:  # only the proxy resolves it: a name the allow-list must name
        if not (rules.open or any(prefix.matches(target) for prefix in rules.prefixes)):
            raise URLRefused(
                f"host {target.host} does not resolve here and no URL prefix of the allowed URLs "
                "of this controller names it"
            ) from None
        return target, via
    rules.check_addresses(target, addresses)
    return target, via


async def _post(
    rules: UrlPolicy,
    target: httpx.URL,
    via: httpx.URL | None,
    payload: object,
    headers: Mapping[str, str] | None,
    timeout: float,
    accept: Collection[int],
) -> tuple[int, bytes]:
    """(status, the first bytes of the body when the status is not accepted)."""
    async with (
        httpx.AsyncClient(
            timeout=httpx.Timeout(timeout), proxy=via, trust_env=False, follow_redirects=False
        ) as client,
        client.stream("POST", target, json=payload, headers=dict(headers or {})) as response,
    ):
        stream = response.extensions.get("network_stream")
        if stream is not None:  # the peer is the target, or the proxy when there is one
            rules.check_peer(via or target, stream.get_extra_info("server_addr"))
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
