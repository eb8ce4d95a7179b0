"""A webhook's answer is a verdict; no answer (or a 502-504) is inconclusive, with its cause (issue 16)."""

from __future__ import annotations

import pytest

from controller.hooks.webhooks import WebhookPayload, WebhookSpec, call_webhook
from tests.recording_http import Reply, serve_recording

PAYLOAD = WebhookPayload(name="podinfo", namespace="test", phase="Progressing")


@pytest.mark.parametrize(
    ("reply", "ok", "cause"),
    [
        (Reply(body="ok"), True, ""),
        (Reply(status=500, body="load test failed"), False, ""),
        (Reply(status=400, body="no"), False, ""),
        (Reply(status=503, body="down"), False, "unavailable"),
        (Reply(body="slow", delay=1.5), False, "timeout"),
    ],
)
async def test_webhook_outcomes(reply: Reply, ok: bool, cause: str) -> None:
    with serve_recording() as server:
        server.reply_with(reply)
        hook = WebhookSpec(name="load-test", url=server.url, timeout=0.5)
        result = await call_webhook(hook, PAYLOAD, backoff=0.01)
    assert (result.ok, result.cause) == (ok, cause)


async def test_unreachable_webhook_is_inconclusive() -> None:
    with serve_recording() as server:
        url = server.url
    result = await call_webhook(WebhookSpec(name="gone", url=url, timeout=1.0), PAYLOAD, backoff=0.01)
    assert (result.ok, result.status_code, result.cause) == (False, None, "unreachable")
