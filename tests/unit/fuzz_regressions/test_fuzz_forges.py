"""Answers the forge fuzz campaign (bench/chaos/fuzz_responses.py) found, kept as regressions.

Each answer is served as raw bytes by a loopback server, so status line, headers and body are
exactly what the campaign sent. The contract (controller.gitops.forges.base): every call either
returns a well-typed PullRequest or raises ForgeError with a short, printable message.
"""

from __future__ import annotations

import asyncio
import math

import pytest

from controller.gitops.forges import ForgeError, PullRequest, RemoteURLError, RepoRef, forge_for

from .raw_http import RawServer, answer

TOKEN = "tok-regression-secret"
HEAD, BASE = "gitcanary/promote/ns/app/abc123", "main"


def call(server: RawServer, provider: str, operation: str) -> object:
    forge = forge_for(provider, f"http://127.0.0.1:{server.port}", TOKEN)
    repo = RepoRef("127.0.0.1", "org/repo", "http", server.port)

    async def run() -> object:
        if operation == "get":
            return await forge.get(repo, 7)
        if operation == "comment":
            return await forge.comment(repo, 7, "analysis passed")
        return await forge.open_or_adopt(repo, HEAD, BASE, "Promote app", "body")

    return asyncio.run(run())


def forge_error(server: RawServer, provider: str, operation: str) -> ForgeError:
    with pytest.raises(ForgeError) as raised:
        call(server, provider, operation)
    message = str(raised.value)
    assert message.isprintable() and len(message) < 600 and TOKEN not in message, message
    return raised.value


DEEP = b"[" * 42_000 + b"]" * 42_000


@pytest.mark.parametrize("status", [200, 500])
def test_deeply_nested_json_is_a_forge_error(server: RawServer, status: int) -> None:
    # Found: gitea comment, HTTP 500, 42 kB of '[': RecursionError escaped forge_message.
    server.answer = answer(status, DEEP, "Content-Type: application/json")
    forge_error(server, "github", "get")


@pytest.mark.parametrize(
    "content_type",
    ["application/json; charset=utf-16", "application/json; charset=rot13", "text/plain; charset=hex"],
)
@pytest.mark.parametrize("status", [200, 500])
def test_a_charset_python_cannot_decode_with_is_a_forge_error(
    server: RawServer, content_type: str, status: int
) -> None:
    # Found: charset=utf-16 without a BOM raised UnicodeError, charset=rot13 a TypeError (a body
    # that is not a JSON object is read as text, in the declared charset).
    server.answer = answer(status, b"upstream is down", f"Content-Type: {content_type}")
    try:
        result = call(server, "github", "get")
    except ForgeError as error:
        assert str(error).isprintable()
    else:
        assert isinstance(result, PullRequest)


@pytest.mark.parametrize("header", ["Retry-After: 1e999", "Retry-After: inf", "Retry-After: nan"])
def test_retry_after_is_a_finite_delay(server: RawServer, header: str) -> None:
    # Found: Retry-After: 1e999 gave retry_after=inf (a retry never scheduled).
    server.answer = answer(429, b"{}", header)
    delay = forge_error(server, "gitlab", "get").retry_after
    assert delay is None or (math.isfinite(delay) and delay >= 0)


def test_a_forge_message_with_terminal_escapes_is_printable(server: RawServer) -> None:
    # Found: {"message": "\x1b[2J"} reached the ForgeError text (then Events and logs) raw.
    server.answer = answer(
        429, b'{"message": "\\u001b[2Jcleared\\r\\u0007"}', "Content-Type: application/json"
    )
    assert "cleared" in str(forge_error(server, "gitlab", "comment"))


@pytest.mark.parametrize(
    ("provider", "body"),
    [
        ("github", b'{"number": "seven"}'),
        ("github", b'{"number": 1e400}'),
        ("gitea", b'{"number": [7]}'),
        ("gitea", b'{"number": null}'),
        ("gitlab", b'{"iid": "7a", "state": "opened"}'),
        ("gitlab", b'{"iid": 1.5e999, "state": "merged"}'),
    ],
)
def test_a_pull_request_number_that_is_not_an_integer_is_a_forge_error(
    server: RawServer, provider: str, body: bytes
) -> None:
    server.answer = answer(200, body, "Content-Type: application/json")
    forge_error(server, provider, "get")


@pytest.mark.parametrize(
    ("provider", "item"),
    [
        ("github", b'{"number": "x", "state": "open", "head": {"ref": "%s"}, "base": {"ref": "main"}}'),
        ("gitea", b'{"number": {}, "state": "open", "head": {"ref": "%s"}, "base": {"ref": "main"}}'),
        ("gitlab", b'{"iid": "x", "state": "opened", "source_branch": "%s", "target_branch": "main"}'),
    ],
)
def test_an_open_pull_request_listed_without_an_integer_number_is_a_forge_error(
    server: RawServer, provider: str, item: bytes
) -> None:
    server.answer = answer(200, b"[" + item % HEAD.encode() + b"]", "Content-Type: application/json")
    forge_error(server, provider, "open_or_adopt")


@pytest.mark.parametrize("url", ["ftp://[bad:22", "https://[bad/org/repo", "ssh://git@[::1/org/repo.git"])
def test_a_remote_url_with_a_broken_ipv6_host_is_a_remote_url_error(url: str) -> None:
    # Found: urlsplit's ValueError("Invalid IPv6 URL") escaped RepoRef.parse.
    with pytest.raises(RemoteURLError) as refused:
        RepoRef.parse(url)
    assert str(refused.value).isprintable()
