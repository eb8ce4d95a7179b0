"""One alert POST: a total deadline, a short sanitized error, and a best-effort error kind."""

from __future__ import annotations

import time

import pytest

from controller.errors import BestEffortError, PermanentError, TemporaryError
from controller.notify import MSTeamsNotifier, NotifyError, UnknownNotifier
from controller.notify.delivery import MAX_BODY_IN_ERROR, post_json
from tests.recording_http import RecordingServer, Reply
from tests.stalling_http import silent_endpoint, trickling_endpoint


def test_notify_errors_are_best_effort() -> None:
    for kind in (NotifyError, UnknownNotifier):
        assert issubclass(kind, BestEffortError)
        assert not issubclass(kind, TemporaryError | PermanentError)


async def test_a_trickling_answer_is_cut_at_the_total_deadline() -> None:
    with trickling_endpoint(status=500, interval=0.1, total=20.0) as url:
        started = time.monotonic()
        with pytest.raises(NotifyError, match="no answer within 1s"):
            await post_json(url, {"text": "x"}, timeout=1.0)
        assert time.monotonic() - started < 2.5


async def test_an_endpoint_that_never_answers_is_cut_at_the_deadline() -> None:
    with silent_endpoint() as url:
        started = time.monotonic()
        with pytest.raises(NotifyError, match=r"no answer within 0\.5s"):
            await MSTeamsNotifier(url, timeout=0.5).post("podinfo", "test", "m", [], "error")
        assert time.monotonic() - started < 2.0


async def test_an_error_quotes_only_a_short_sanitized_fragment(http_server: RecordingServer) -> None:
    body = "<html>\n\x1b[31mupstream\tfailure\r\n" + "A" * 100_000 + "\x00"
    http_server.reply_with(Reply(status=500, body=body))
    with pytest.raises(NotifyError) as info:
        await post_json(http_server.url + "/hook/t0ken", {"text": "x"})
    message = str(info.value)
    assert message.startswith("sending notification failed: HTTP 500: <html> [31mupstream failure AAA")
    assert len(message) <= len("sending notification failed: HTTP 500: ") + MAX_BODY_IN_ERROR
    assert message.isprintable()
    assert "t0ken" not in message


async def test_an_error_never_echoes_the_address_or_a_secret(http_server: RecordingServer) -> None:
    address = http_server.url + "/services/T0/B0/s3cr3t"
    http_server.reply_with(lambda r: Reply(status=403, body=f"bad hook {address} {r.headers['x-token']}"))
    with pytest.raises(NotifyError) as info:
        await post_json(address, {}, headers={"X-Token": "tok-123"}, secrets=("tok-123",))
    assert "s3cr3t" not in str(info.value) and "tok-123" not in str(info.value)
    assert "HTTP 403: bad hook *** ***" in str(info.value)
