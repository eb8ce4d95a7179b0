"""`--event-webhook`: every recorded Event reaches a real HTTP server as Flagger's payload."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any, cast

import pytest

from controller.events import add_listener, record_event, remove_listener
from controller.kube import Kube
from controller.notify.event_webhook import EVENT_WEBHOOK_FAILED, EventWebhook
from tests.recording_http import RecordingServer, Reply
from tests.stalling_http import silent_endpoint

Obj = dict[str, Any]


class EventSink:
    """Stands in for the API server's Event endpoint: collects what is created."""

    def __init__(self) -> None:
        self.events: list[Obj] = []

    async def create(self, obj: Obj) -> Obj:
        self.events.append(obj)
        return obj


def canary(*hooks: Obj) -> Obj:
    return {
        "apiVersion": "gitcanary.io/v1beta1",
        "kind": "Canary",
        "metadata": {"name": "podinfo", "namespace": "test", "uid": "u-1"},
        "spec": {"analysis": {"webhooks": list(hooks)}},
        "status": {"phase": "Progressing", "lastAppliedSpec": "5d8f7c9b"},
    }


@pytest.fixture
def forwarding(http_server: RecordingServer) -> Iterator[EventWebhook]:
    hook = EventWebhook(http_server.url + "/events/t0ken", backoff=0.01)
    add_listener(hook.listener)
    try:
        yield hook
    finally:
        remove_listener(hook.listener)


async def test_every_recorded_event_is_posted_as_flaggers_payload(
    http_server: RecordingServer, forwarding: EventWebhook
) -> None:
    kube = EventSink()
    before = time.time_ns() // 1_000_000
    await record_event(cast(Kube, kube), canary(), "Normal", "Synced", "New revision detected podinfo.test")
    await record_event(cast(Kube, kube), canary(), "Warning", "AlertFailed", "alert provider test/x failed")
    await forwarding.drain()
    bodies = sorted(
        (cast(Obj, r.json()) for r in http_server.requests), key=lambda b: b["metadata"]["eventType"]
    )
    assert [r.path for r in http_server.requests] == ["/events/t0ken"] * 2
    first = bodies[0]
    assert {k: v for k, v in first.items() if k != "metadata"} == {
        "name": "podinfo",
        "namespace": "test",
        "phase": "Progressing",
        "checksum": "5d8f7c9b",
    }
    assert first["metadata"]["eventMessage"] == "New revision detected podinfo.test"
    assert first["metadata"]["eventType"] == "Normal"
    assert first["metadata"]["eventReason"] == "Synced"
    assert before <= int(first["metadata"]["timestamp"]) <= time.time_ns() // 1_000_000
    assert bodies[1]["metadata"]["eventType"] == "Warning"
    assert [e["reason"] for e in kube.events] == ["Synced", "AlertFailed"], "no failure Event"


async def test_a_canarys_own_event_hooks_override_the_controllers(
    http_server: RecordingServer, forwarding: EventWebhook
) -> None:
    own = canary({"name": "mine", "type": "event", "url": "http://example/"})
    await record_event(cast(Kube, EventSink()), own, "Normal", "Synced", "m")
    await forwarding.drain()
    assert http_server.requests == []


async def test_a_failing_webhook_is_retried_then_reported_once_and_never_fed_its_own_failure(
    http_server: RecordingServer,
) -> None:
    http_server.reply_with(Reply(status=500, body="<h1>down</h1>"))
    hook = EventWebhook(http_server.url + "/events/t0ken", attempts=3, backoff=0.01)
    kube = EventSink()
    add_listener(hook.listener)
    try:
        await record_event(cast(Kube, kube), canary(), "Normal", "Synced", "one")
        await hook.drain()
        await record_event(cast(Kube, kube), canary(), "Normal", "Synced", "two")
        await hook.drain()
    finally:
        remove_listener(hook.listener)
    assert len(http_server.requests) == 6, "two Events, three tries each; the failure Event is not sent"
    failures = [e for e in kube.events if e["reason"] == EVENT_WEBHOOK_FAILED]
    assert len(failures) == 1, "one report per Canary per report_every"
    message = failures[0]["message"]
    assert message.startswith("event webhook failed after 3 tries: sending notification failed: HTTP 500")
    assert "t0ken" not in message and failures[0]["type"] == "Warning"


async def test_reports_resume_after_the_quiet_period_with_the_count(http_server: RecordingServer) -> None:
    http_server.reply_with(Reply(status=503))
    now = [0.0]
    hook = EventWebhook(http_server.url, attempts=1, report_every=60.0, clock=lambda: now[0])
    kube = EventSink()
    for _ in range(3):
        hook.listener(cast(Kube, kube), canary(), "Normal", "Synced", "m")
        await hook.drain()
    now[0] = 61.0
    hook.listener(cast(Kube, kube), canary(), "Normal", "Synced", "m")
    await hook.drain()
    messages = [e["message"] for e in kube.events]
    assert messages == [
        "event webhook failed after 1 try: sending notification failed: HTTP 503",
        "event webhook failed after 1 try: sending notification failed: HTTP 503 (2 more failures since the last report)",
    ]


async def test_a_silent_webhook_never_holds_the_tick_and_costs_the_deadline_per_try() -> None:
    with silent_endpoint() as url:
        hook = EventWebhook(url, timeout=0.3, attempts=2, backoff=0.01)
        kube = EventSink()
        started = time.monotonic()
        hook.listener(cast(Kube, kube), canary(), "Warning", "Synced", "Rolling back podinfo.test")
        assert time.monotonic() - started < 0.05, "the listener returns at once"
        await asyncio.wait_for(hook.drain(), timeout=5)
        assert time.monotonic() - started < 2.0
    [event] = kube.events
    assert (
        event["message"]
        == "event webhook failed after 2 tries: sending notification failed: no answer within 0.3s"
    )


async def test_a_refused_webhook_is_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = EventWebhook("http://169.254.169.254/hook", attempts=3, backoff=5.0)
    kube = EventSink()
    hook.listener(cast(Kube, kube), canary(), "Normal", "Synced", "m")
    await asyncio.wait_for(hook.drain(), timeout=2)
    [event] = kube.events
    assert event["message"].startswith(
        "event webhook failed after 1 try: sending notification refused: address"
    )


async def test_a_backlog_beyond_max_pending_is_dropped_and_reported() -> None:
    with silent_endpoint() as url:
        hook = EventWebhook(url, timeout=0.3, attempts=1, max_pending=2, concurrency=1)
        kube = EventSink()
        for n in range(4):
            hook.listener(cast(Kube, kube), canary(), "Normal", "Synced", f"m{n}")
        await asyncio.wait_for(hook.drain(), timeout=5)
    messages = [e["message"] for e in kube.events]
    assert messages[0] == "event webhook 2 Events already waiting, this one was dropped"
    assert len(messages) == 1, "later failures fall in the quiet period"
