"""One hardened HTTP path for URLs that tenants supply (webhooks, metric providers, alerts).

Every call to a URL that comes from a Canary, MetricTemplate or AlertProvider goes through
``fetch`` (one attempt) or ``fetch_retrying`` (bounded retries the caller asks for).

Invariants:

* **Total deadline.** One attempt (DNS resolution, connect, send, and reading the whole body)
  finishes within ``deadline`` seconds or raises ``DeadlineExceeded``. The deadline is a wall
  clock bound, not a per-read timeout: a server that trickles one byte a second is cut off.
* **Size cap.** The body is streamed and reading stops at ``max_bytes`` (``DEFAULT_MAX_BYTES``,
  1 MiB): a larger answer raises ``ResponseTooLarge``; nothing past the cap is buffered. A
  ``Content-Length`` above the cap is refused before the body is read.
* **Bounded retries.** ``fetch_retrying`` makes at most ``MAX_RETRIES`` extra attempts whatever
  the caller asks, with capped exponential backoff; each attempt has its own deadline.
* **URL policy** (``UrlPolicy``): schemes ``http`` and ``https`` only. Link-local addresses
  (169.254.0.0/16, fe80::/10) and cloud metadata endpoints (169.254.169.254,
  ``metadata.google.internal``, fd00:ec2::254, 100.100.100.200, ...) are ALWAYS refused, even
  when an allow-list names them. The check runs on every address the host name resolves to
  (so ``http://2852039166/`` or a DNS name pointing at 169.254.169.254 is refused), and again on
  the address the connection really reached, before any byte of the body is read (so a DNS
  answer that changes between the check and the connect cannot leak a metadata response).
  An allow-list (``--allowed-url`` on ``gitcanary run``, or ``GITCANARY_ALLOWED_URLS``, comma or
  whitespace separated) holds URL prefixes and CIDRs; when it is empty everything outside the
  always-refused set is allowed. A prefix matches on scheme, host and port exactly and on the
  path at a ``/`` boundary (``https://prom.example`` does not allow ``https://prom.example.evil``).
* Redirects are never followed, and proxy environment variables are ignored: both would send
  the request to an address the policy never checked.
* **Messages are safe to show.** No error message contains the URL (URLs often embed tokens);
  at most the host name and the refused address. ``body_fragment`` turns a response body into
  at most ``FRAGMENT_CHARS`` printable characters for Events and conditions.

Exceptions::

    OutboundError
    ├── URLRefused        the URL policy refused the URL (scheme, address, allow-list)
    ├── DeadlineExceeded  the total deadline passed (DNS, connect, send or a slow body)
    ├── ResponseTooLarge  the body is larger than max_bytes
    └── TransportFailed   DNS failure, connection refused or reset, TLS error
"""

from __future__ import annotations

import asyncio
import json
import re
import ssl
import unicodedata
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import httpx

from controller.errors import PermanentError, TemporaryError
from controller.url_policy import OutboundError, TransportFailed, UrlPolicy, URLRefused

__all__ = [
    "DEFAULT_MAX_BYTES",
    "FRAGMENT_CHARS",
    "MAX_RETRIES",
    "DeadlineExceeded",
    "OutboundError",
    "OutboundResponse",
    "ResponseTooLarge",
    "TransportFailed",
    "URLRefused",
    "body_fragment",
    "fetch",
    "fetch_retrying",
]

DEFAULT_MAX_BYTES: Final = 1 << 20
"""Largest response body read from a tenant-supplied URL (1 MiB)."""
FRAGMENT_CHARS: Final = 120
"""Most characters of a response body shown in an Event or a condition."""
MAX_RETRIES: Final = 10
"""Most extra attempts ``fetch_retrying`` makes, whatever the caller asks."""
MAX_BACKOFF: Final = 30.0
"""Longest sleep between two attempts, in seconds."""


class DeadlineExceeded(OutboundError, TemporaryError):
    """The call did not complete within its total deadline."""


class ResponseTooLarge(OutboundError, PermanentError):
    """The response body is larger than the cap."""


@dataclass(frozen=True)
class OutboundResponse:
    """A complete (capped) answer: status, headers and body bytes."""

    status_code: int
    headers: httpx.Headers
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode(_charset(self.headers), errors="replace")

    def json(self) -> Any:
        """The body as JSON; raises ValueError when it is not (or nests too deeply to decode)."""
        try:
            return json.loads(self.content)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None


def _charset(headers: httpx.Headers) -> str:
    match = re.search(r"charset=([\w.-]+)", headers.get("content-type", ""), re.IGNORECASE)
    return match.group(1) if match and _known(match.group(1)) else "utf-8"


def _known(charset: str) -> bool:
    try:
        "".encode(charset)
    except LookupError:
        return False
    return True


Headers = Mapping[str, str] | Sequence[tuple[str, str]]
Params = Mapping[str, str] | Sequence[tuple[str, str]]


def _query(params: Params | None) -> tuple[tuple[str, str], ...] | None:
    if params is None:
        return None
    return tuple(params.items()) if isinstance(params, Mapping) else tuple(params)


async def fetch(
    method: str,
    url: str,
    *,
    deadline: float,
    headers: Headers | None = None,
    params: Params | None = None,
    json_body: object = None,
    content: bytes | None = None,
    verify: bool = True,
    max_bytes: int = DEFAULT_MAX_BYTES,
    policy: UrlPolicy | None = None,
) -> OutboundResponse:
    """One request to a tenant-supplied URL under the invariants of this module.

    ``policy`` defaults to ``UrlPolicy.from_env()``. Any status code is returned; failures to
    get a complete answer raise an ``OutboundError``. ``content`` is a raw request body (a
    signed or form-encoded one), sent instead of ``json_body``.
    """
    rules = UrlPolicy.from_env() if policy is None else policy
    parsed = rules.parse(url)
    try:
        async with asyncio.timeout(deadline):
            rules.check_addresses(parsed, await rules.resolve(parsed))
            return await _exchange(
                method, parsed, rules, deadline, headers, params, json_body, verify, max_bytes, content
            )
    except TimeoutError:
        raise DeadlineExceeded(f"no complete answer within {deadline:g}s") from None


async def _exchange(
    method: str,
    url: httpx.URL,
    rules: UrlPolicy,
    deadline: float,
    headers: Headers | None,
    params: Params | None,
    json_body: object,
    verify: bool,
    max_bytes: int,
    content: bytes | None = None,
) -> OutboundResponse:
    sent = httpx.Headers(headers or {})
    sent.setdefault("Accept-Encoding", "identity")
    async with httpx.AsyncClient(
        timeout=httpx.Timeout(deadline), verify=_tls(verify), follow_redirects=False, trust_env=False
    ) as client:
        try:
            body = {"content": content} if content is not None else {"json": json_body}
            request = client.build_request(method, url, headers=sent, params=_query(params), **body)
            response = await client.send(request, stream=True)
        except httpx.TimeoutException:
            raise DeadlineExceeded(f"no complete answer within {deadline:g}s") from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise TransportFailed(f"request failed: {type(exc).__name__}") from None
        try:
            stream = response.extensions.get("network_stream")
            if stream is not None:
                rules.check_peer(url, stream.get_extra_info("server_addr"))
            content = await _read_capped(response, max_bytes, deadline)
        finally:
            await response.aclose()
    return OutboundResponse(response.status_code, response.headers, content)


_TLS: dict[bool, ssl.SSLContext] = {}


def _tls(verify: bool) -> ssl.SSLContext:
    """One TLS context per ``verify``, made once: a client made with ``verify=True`` loaded the
    CA bundle again (about 18 ms of CPU per request, every metric query of every tick)."""
    if verify not in _TLS:
        _TLS[verify] = httpx.create_ssl_context(verify=verify, trust_env=False)
    return _TLS[verify]


async def _read_capped(response: httpx.Response, max_bytes: int, deadline: float) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise ResponseTooLarge(f"response of {int(declared)} bytes is larger than the {max_bytes}-byte limit")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > max_bytes:
                raise ResponseTooLarge(f"response is larger than the {max_bytes}-byte limit")
            chunks.append(chunk)
    except httpx.TimeoutException:
        raise DeadlineExceeded(f"no complete answer within {deadline:g}s") from None
    except httpx.HTTPError as exc:
        raise TransportFailed(f"reading the response failed: {type(exc).__name__}") from None
    return b"".join(chunks)


Outcome = OutboundResponse | OutboundError
"""What one attempt gave: an answer (any status) or the error that stopped it."""


async def fetch_retrying(
    method: str,
    url: str,
    *,
    deadline: float,
    retries: int,
    retry_if: Callable[[Outcome], bool],
    backoff: float = 1.0,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    **options: Any,
) -> OutboundResponse:
    """``fetch`` with at most ``min(retries, MAX_RETRIES)`` extra attempts.

    An attempt is retried when ``retry_if`` says so for its answer or its error; a URL the
    policy refuses is never retried. Returns the last answer or raises the last error.
    """
    attempts = max(0, min(retries, MAX_RETRIES)) + 1
    outcome: Outcome = OutboundError("not attempted")
    for attempt in range(attempts):
        if attempt:
            await sleep(min(backoff * 2 ** (attempt - 1), MAX_BACKOFF))
        try:
            outcome = await fetch(method, url, deadline=deadline, **options)
        except URLRefused:
            raise
        except OutboundError as exc:
            outcome = exc
        if not retry_if(outcome):
            break
    if isinstance(outcome, OutboundError):
        raise outcome
    return outcome


_SPACE = re.compile(r"\s+")


def body_fragment(body: bytes | str, limit: int = FRAGMENT_CHARS) -> str:
    """At most ``limit`` printable characters of a response body, on one line.

    Control and format characters (escape sequences, bidi overrides, NULs) are dropped and
    whitespace runs become one space; a cut body ends with ``...``.
    """
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    head = text[: limit * 8]  # enough to fill the fragment without scanning a whole megabyte
    printable = "".join(c if not unicodedata.category(c).startswith("C") else " " for c in head)
    flat = _SPACE.sub(" ", printable).strip()
    if len(flat) <= limit and len(head) == len(text):
        return flat
    return flat[: limit - 3].rstrip() + "..."
