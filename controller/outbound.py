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
import ipaddress
import json
import os
import re
import socket
import unicodedata
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import httpx

__all__ = [
    "ALLOWED_URLS_ENV",
    "ALWAYS_REFUSED_HOSTS",
    "ALWAYS_REFUSED_NETWORKS",
    "DEFAULT_MAX_BYTES",
    "FRAGMENT_CHARS",
    "MAX_RETRIES",
    "DeadlineExceeded",
    "OutboundError",
    "OutboundResponse",
    "ResponseTooLarge",
    "TransportFailed",
    "URLRefused",
    "UrlPolicy",
    "allow_list_entries",
    "body_fragment",
    "fetch",
    "fetch_retrying",
    "static_refusal",
]

DEFAULT_MAX_BYTES: Final = 1 << 20
"""Largest response body read from a tenant-supplied URL (1 MiB)."""
FRAGMENT_CHARS: Final = 120
"""Most characters of a response body shown in an Event or a condition."""
MAX_RETRIES: Final = 10
"""Most extra attempts ``fetch_retrying`` makes, whatever the caller asks."""
MAX_BACKOFF: Final = 30.0
"""Longest sleep between two attempts, in seconds."""
ALLOWED_URLS_ENV: Final = "GITCANARY_ALLOWED_URLS"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ALWAYS_REFUSED_NETWORKS: Final[tuple[IPNetwork, ...]] = (
    ipaddress.ip_network("169.254.0.0/16"),  # IPv4 link-local; AWS, GCP, Azure, OpenStack metadata
    ipaddress.ip_network("fe80::/10"),  # IPv6 link-local
    ipaddress.ip_network("fd00:ec2::254/128"),  # AWS instance metadata over IPv6
    ipaddress.ip_network("100.100.100.200/32"),  # Alibaba Cloud metadata
    ipaddress.ip_network("64:ff9b::a9fe:0/112"),  # 169.254.0.0/16 through NAT64
)
ALWAYS_REFUSED_HOSTS: Final = frozenset({"metadata.google.internal", "metadata.goog", "metadata"})

_SCHEMES: Final = frozenset({"http", "https"})
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


class OutboundError(Exception):
    """A call to a tenant-supplied URL failed; the message never contains the URL."""


class URLRefused(OutboundError):
    """The URL policy refused the URL."""


class DeadlineExceeded(OutboundError):
    """The call did not complete within its total deadline."""


class ResponseTooLarge(OutboundError):
    """The response body is larger than the cap."""


class TransportFailed(OutboundError):
    """The request could not be sent or the answer could not be read."""


def _refused_address(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(
        address in network for network in ALWAYS_REFUSED_NETWORKS if network.version == address.version
    )


def _address(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None


@dataclass(frozen=True)
class _Prefix:
    scheme: str
    host: str
    port: int
    path: str

    def matches(self, url: httpx.URL) -> bool:
        if url.scheme != self.scheme or url.host.lower() != self.host:
            return False
        if (url.port or _DEFAULT_PORTS[url.scheme]) != self.port:
            return False
        base = self.path.rstrip("/")
        return not base or url.path == base or url.path.startswith(base + "/")


@dataclass(frozen=True)
class UrlPolicy:
    """Which tenant-supplied URLs may be called (see the module docstring)."""

    prefixes: tuple[_Prefix, ...] = ()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_entries(cls, entries: Iterable[str]) -> UrlPolicy:
        """Parse allow-list entries (URL prefixes or CIDRs); raise ValueError naming a bad one."""
        prefixes: list[_Prefix] = []
        networks: list[IPNetwork] = []
        for entry in (e.strip() for e in entries):
            if not entry:
                continue
            if "://" not in entry:
                try:
                    networks.append(ipaddress.ip_network(entry, strict=False))
                except ValueError:
                    raise ValueError(
                        f"allowed URL {entry!r} is neither an http(s) URL prefix nor a CIDR"
                    ) from None
                continue
            try:
                url = httpx.URL(entry)
            except httpx.InvalidURL:
                raise ValueError(f"allowed URL {entry!r} is not a valid URL") from None
            if url.scheme not in _SCHEMES or not url.host:
                raise ValueError(f"allowed URL {entry!r} must be an http or https URL with a host")
            port = url.port or _DEFAULT_PORTS[url.scheme]
            prefixes.append(_Prefix(url.scheme, url.host.lower(), port, url.path))
        return cls(tuple(prefixes), tuple(networks))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> UrlPolicy:
        """The policy set by ``GITCANARY_ALLOWED_URLS`` (comma or whitespace separated)."""
        raw = (os.environ if environ is None else environ).get(ALLOWED_URLS_ENV, "")
        return cls.from_entries(re.split(r"[,\s]+", raw))

    @property
    def open(self) -> bool:
        """True when no allow-list is set: only the always-refused set is refused."""
        return not self.prefixes and not self.networks

    def parse(self, url: str) -> httpx.URL:
        """Check what can be checked without DNS; return the parsed URL or raise URLRefused."""
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError):
            raise URLRefused("invalid URL") from None
        if parsed.scheme not in _SCHEMES:
            raise URLRefused(f"URL scheme {parsed.scheme or '(none)'!r} is not allowed; use http or https")
        host = parsed.host.lower().rstrip(".")
        if not host:
            raise URLRefused("URL has no host")
        if host in ALWAYS_REFUSED_HOSTS:
            raise URLRefused(f"host {host} is a cloud metadata endpoint and is always refused")
        return parsed

    def check_addresses(self, url: httpx.URL, addresses: Sequence[IPAddress]) -> None:
        """Raise URLRefused unless every address ``url``'s host resolves to may be called."""
        host = url.host.lower()
        for address in addresses:
            if _refused_address(address):
                if _address(host) == address:
                    raise URLRefused(f"address {address} is link-local or a metadata address, always refused")
                raise URLRefused(f"host {host} resolves to {address}, a link-local or metadata address")
        if self.open or any(prefix.matches(url) for prefix in self.prefixes):
            return
        for address in addresses:
            if not any(address in net for net in self.networks if net.version == address.version):
                raise URLRefused(f"host {host} ({address}) is not in the allowed URLs of this controller")

    async def resolve(self, url: httpx.URL) -> list[IPAddress]:
        """The addresses of ``url``'s host (the literal address for an IP host)."""
        literal = _address(url.host)
        if literal is not None:
            return [literal]
        port = url.port or _DEFAULT_PORTS[url.scheme]
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(url.host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise TransportFailed(
                f"cannot resolve host {url.host}: {exc.args[-1] if exc.args else exc}"
            ) from None
        found = [_address(str(info[4][0])) for info in infos]
        return [address for address in found if address is not None]

    def check_peer(self, url: httpx.URL, peer: object) -> None:
        """Check the address the connection actually reached (a ``(host, port, ...)`` tuple)."""
        if not isinstance(peer, tuple) or not peer:
            return
        address = _address(str(peer[0]))
        if address is not None:
            self.check_addresses(url, [address])


def static_refusal(url: str) -> str | None:
    """Why ``url`` is always refused, as far as is known without DNS (None: not known to be).

    For offline validation: the scheme, the metadata host names and literal link-local or
    metadata addresses. The allow-list and resolved addresses are checked at call time.
    """
    policy = UrlPolicy()
    try:
        parsed = policy.parse(url)
        literal = _address(parsed.host)
        if literal is not None:
            policy.check_addresses(parsed, [literal])
    except URLRefused as exc:
        return str(exc)
    return None


def allow_list_entries(values: Iterable[str], metrics_server: str | None = None) -> list[str]:
    """The allow-list from ``--allowed-url`` values (each may hold several, comma separated).

    A non-empty allow-list also admits the controller's own ``--metrics-server``, which the
    platform team set, so that built-in metrics keep working.
    """
    entries = [entry for value in values for entry in re.split(r"[,\s]+", value) if entry]
    if entries and metrics_server:
        entries.append(metrics_server)
    return entries


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
        timeout=httpx.Timeout(deadline), verify=verify, follow_redirects=False, trust_env=False
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
