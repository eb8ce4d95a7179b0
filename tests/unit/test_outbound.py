"""The hardened HTTP path for tenant-supplied URLs, against real loopback servers."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from click.testing import CliRunner

from controller.cli.main import main
from controller.outbound import (
    DeadlineExceeded,
    OutboundResponse,
    ResponseTooLarge,
    TransportFailed,
    URLRefused,
    body_fragment,
    fetch,
    fetch_retrying,
)
from controller.url_policy import ALLOWED_URLS_ENV, UrlPolicy, allow_list_entries
from tests.hostile_http import serve_hostile

OPEN = UrlPolicy()


@pytest.fixture
def server() -> Iterator[tuple[str, list[str]]]:
    with serve_hostile() as hostile:
        yield hostile.url, hostile.hits


async def test_fetch_returns_status_headers_and_body(server: tuple[str, list[str]]) -> None:
    base, _ = server
    response = await fetch("GET", base + "/ok", deadline=5, policy=OPEN)
    assert response.status_code == 200
    assert response.json() == {"ok": True}


async def test_trickling_server_is_cut_off_at_the_total_deadline(server: tuple[str, list[str]]) -> None:
    base, _ = server
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded, match=r"within 0\.5s"):
        await fetch("GET", base + "/trickle", deadline=0.5, policy=OPEN)
    assert time.monotonic() - started < 2.0


async def test_streamed_body_stops_at_the_cap(server: tuple[str, list[str]]) -> None:
    base, _ = server
    started = time.monotonic()
    with pytest.raises(ResponseTooLarge, match="1048576-byte limit"):
        await fetch("GET", base + "/huge", deadline=10, policy=OPEN)
    assert time.monotonic() - started < 5.0


async def test_declared_length_over_the_cap_is_refused_before_reading(server: tuple[str, list[str]]) -> None:
    base, _ = server
    with pytest.raises(ResponseTooLarge, match="104857600 bytes"):
        await fetch("GET", base + "/huge-declared", deadline=10, policy=OPEN)


async def test_connection_refused_is_a_transport_failure() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(TransportFailed, match="ConnectError"):
        await fetch("GET", f"http://127.0.0.1:{port}/", deadline=5, policy=OPEN)


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/",
        "http://[::ffff:169.254.169.254]/",
        "http://[fd00:ec2::254]/",
        "http://2852039166/computeMetadata/v1/",  # 169.254.169.254 as one number, resolved
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://METADATA.google.internal./",
        "file:///etc/passwd",
        "gopher://127.0.0.1/",
        "not a url",
    ],
)
async def test_metadata_link_local_and_other_schemes_are_always_refused(url: str) -> None:
    allow_everything = UrlPolicy.from_entries(["0.0.0.0/0", "::/0", "http://169.254.169.254/"])
    for policy in (OPEN, allow_everything):
        with pytest.raises(URLRefused):
            await fetch("GET", url, deadline=2, policy=policy)


async def test_refusal_message_never_carries_the_url_path_or_token() -> None:
    with pytest.raises(URLRefused) as refused:
        await fetch("GET", "http://user:pw@169.254.169.254/secret-token", deadline=2, policy=OPEN)
    assert "secret-token" not in str(refused.value)
    assert "pw" not in str(refused.value)
    assert "169.254.169.254" in str(refused.value)


async def test_allow_list_prefix_matches_at_host_and_path_boundaries(server: tuple[str, list[str]]) -> None:
    base, hits = server
    policy = UrlPolicy.from_entries([base + "/hooks"])
    assert (await fetch("GET", base + "/hooks/a", deadline=5, policy=policy)).status_code == 200
    for refused in (base + "/hooksmith", base + "/other", base.replace("127.0.0.1", "localhost") + "/hooks"):
        with pytest.raises(URLRefused, match="not in the allowed URLs"):
            await fetch("GET", refused, deadline=5, policy=policy)
    assert hits == ["/hooks/a"]


async def test_allow_list_cidr(server: tuple[str, list[str]]) -> None:
    base, _ = server
    assert (await fetch("GET", base, deadline=5, policy=UrlPolicy.from_entries(["127.0.0.0/8"]))).status_code
    with pytest.raises(URLRefused):
        await fetch("GET", base, deadline=5, policy=UrlPolicy.from_entries(["10.0.0.0/8"]))


def test_allow_list_from_env_and_bad_entries() -> None:
    policy = UrlPolicy.from_env({ALLOWED_URLS_ENV: "https://prom.example:9090, 10.0.0.0/8\n192.168.1.0/24"})
    assert len(policy.prefixes) == 1 and len(policy.networks) == 2
    assert UrlPolicy.from_env({}).open
    with pytest.raises(ValueError, match="neither"):
        UrlPolicy.from_entries(["prom.example"])
    with pytest.raises(ValueError, match="http or https"):
        UrlPolicy.from_entries(["ftp://prom.example/"])


def test_the_address_really_reached_is_checked_again() -> None:
    url = httpx.URL("http://looks-fine.example/")
    with pytest.raises(URLRefused, match=r"169\.254\.169\.254"):
        OPEN.check_peer(url, ("169.254.169.254", 80))
    cidr_only = UrlPolicy.from_entries(["10.0.0.0/8"])
    cidr_only.check_peer(url, ("10.1.2.3", 80))
    with pytest.raises(URLRefused):
        cidr_only.check_peer(url, ("192.168.0.1", 80))


async def test_retries_are_bounded_and_refusals_never_retried(server: tuple[str, list[str]]) -> None:
    base, hits = server
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    def retry_5xx(outcome: OutboundResponse | Exception) -> bool:
        return isinstance(outcome, OutboundResponse) and outcome.status_code >= 500

    response = await fetch_retrying(
        "GET", base + "/status-503", deadline=5, retries=1000, retry_if=retry_5xx, sleep=sleep, policy=OPEN
    )
    assert response.status_code == 503
    assert len(hits) == 11  # one attempt and at most ten retries
    assert max(slept) == 30.0
    with pytest.raises(URLRefused):
        await fetch_retrying(
            "GET", "http://169.254.169.254/", deadline=5, retries=3, retry_if=lambda _: True, sleep=sleep
        )


def test_body_fragment_is_short_printable_and_one_line() -> None:
    fragment = body_fragment("\x1b[31mboom\x00\r\n\u202e".encode() + b"z" * 500)
    assert len(fragment) <= 120
    assert fragment.endswith("...")
    assert all(c.isprintable() for c in fragment)
    assert fragment.startswith("[31mboom")
    assert body_fragment("  short\tanswer \n") == "short answer"
    assert body_fragment(b"\xff\xfe broken utf-8") == "\ufffd\ufffd broken utf-8"


def test_allow_list_entries_split_and_admit_the_controllers_metrics_server() -> None:
    assert allow_list_entries(["https://a.example/x, 10.0.0.0/8", "192.168.0.0/16"], "http://prom:9090") == [
        "https://a.example/x",
        "10.0.0.0/8",
        "192.168.0.0/16",
        "http://prom:9090",
    ]
    assert allow_list_entries([], "http://prom:9090") == []


def test_gitcanary_run_refuses_a_bad_allowed_url(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("GITCANARY_METRICS_ADDR", "GITCANARY_WATCH_LABEL_SELECTOR", ALLOWED_URLS_ENV):
        monkeypatch.setenv(key, "")
    result = CliRunner().invoke(main, ["run", "--allowed-url", "prom.example"])
    assert result.exit_code == 2
    assert "neither an http(s) URL prefix nor a CIDR" in result.output
