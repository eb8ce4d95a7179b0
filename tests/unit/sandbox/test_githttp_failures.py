"""The sandbox's smart-HTTP server reports a failing ``git http-backend`` as a 500 with its reason.

An empty 200 made git fall back to the dumb protocol and report only "Cannot access URL ...,
return code 22" (a CI run of the approval-gate tests failed that way, with the cause lost).
"""

from __future__ import annotations

import base64
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from gitcanary_sandbox.githttp import make_handler

CREDS = {"username": "u", "password": "p"}


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(tmp_path, CREDS))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/org/repo.git/info/refs?service=git-receive-pack"
    finally:
        server.shutdown()
        server.server_close()


def _get(url: str) -> tuple[int, str]:
    request = urllib.request.Request(
        url, headers={"Authorization": "Basic " + base64.b64encode(b"u:p").decode()}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_a_backend_that_exits_without_headers_is_a_500_naming_its_error(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "git"
    fake.write_text("#!/bin/sh\necho 'fatal: out of disk, say' >&2\nexit 128\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")

    status, body = _get(url)

    assert status == 500 and "exited 128" in body and "out of disk" in body
    assert "out of disk" in capsys.readouterr().err


def test_a_backend_that_cannot_start_is_a_500(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))

    status, body = _get(url)

    assert status == 500 and "did not run" in body
