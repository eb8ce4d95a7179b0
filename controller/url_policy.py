"""Which tenant-supplied URLs gitcanary may call: the URL policy behind :mod:`controller.outbound`.

Schemes ``http`` and ``https`` only. Link-local addresses (169.254.0.0/16, fe80::/10) and cloud
metadata endpoints (169.254.169.254, ``metadata.google.internal``, fd00:ec2::254,
100.100.100.200, ...) are ALWAYS refused, even when an allow-list names them. The check runs on
every address a host name resolves to and (in :mod:`controller.outbound`) again on the address
the connection really reached. An allow-list (``--allowed-url`` on ``gitcanary run``, or
``GITCANARY_ALLOWED_URLS``, comma or whitespace separated) holds URL prefixes and CIDRs; when it
is empty everything outside the always-refused set is allowed. A prefix matches on scheme, host
and port exactly and on the path at a ``/`` boundary (``https://prom.example`` does not allow
``https://prom.example.evil``). No message names the URL (URLs often embed tokens).
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import httpx

from controller.errors import GitcanaryError, PermanentError, TemporaryError

__all__ = [
    "ALLOWED_URLS_ENV",
    "ALWAYS_REFUSED_HOSTS",
    "ALWAYS_REFUSED_NETWORKS",
    "OutboundError",
    "TransportFailed",
    "URLRefused",
    "UrlPolicy",
    "allow_list_entries",
    "static_refusal",
]

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


class OutboundError(GitcanaryError):
    """A call to a tenant-supplied URL failed; the message never contains the URL (a family:
    each subclass is of one kind)."""


class URLRefused(OutboundError, PermanentError):
    """The URL policy refused the URL."""


class TransportFailed(OutboundError, TemporaryError):
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
