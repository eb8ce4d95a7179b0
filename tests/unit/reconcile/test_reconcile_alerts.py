"""Alerts are best-effort: a tick only collects them; the outbox sends them in the background.

The alert endpoints are real HTTP servers on 127.0.0.1 (one answering 500, one that accepts
TCP and never answers); the Kubernetes API is the in-memory ``MemoryKube``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

from memory_kube import MemoryKube

from controller import analysis as eng
from controller.api import Canary
from controller.errors import BestEffortError
from controller.kube import Kube
from controller.reconcile.alerts import ALERT_FAILED, AlertOutbox, PendingAlert
from controller.reconcile.world import CanaryWorld
from controller.routers.factory import router_for
from controller.workloads.target import TargetWorkload
from tests.recording_http import RecordingServer, Reply
from tests.stalling_http import silent_endpoint

Obj = dict[str, Any]
NS = "test"


def canary(*alerts: Obj) -> Obj:
    return {
        "apiVersion": "gitcanary.io/v1beta1",
        "kind": "Canary",
        "metadata": {"name": "podinfo", "namespace": NS, "uid": "u-1"},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "service": {"port": 9898},
            "analysis": {"interval": "10s", "threshold": 2, "iterations": 2, "alerts": list(alerts)},
        },
        "status": {"phase": "Progressing", "gitops": {"source": {"revision": "main@sha1:abc"}}},
    }


def alert(name: str, severity: str = "error") -> Obj:
    return {"name": name, "severity": severity, "providerRef": {"name": name}}


def provider(name: str, address: str, kind: str = "slack") -> Obj:
    return {
        "apiVersion": "gitcanary.io/v1beta1",
        "kind": "AlertProvider",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"type": kind, "address": address},
    }


def world_of(kube: MemoryKube, raw: Obj) -> CanaryWorld:
    api = cast(Kube, kube)
    return CanaryWorld(
        kube=api,
        canary=Canary.from_k8s(raw),
        raw=raw,
        workload=TargetWorkload(api, raw),
        router=router_for(api, raw, "kubernetes"),
        revision="rev-b",
        metrics_server="",
    )


async def test_a_failing_alert_endpoint_neither_aborts_nor_holds_the_tick(
    http_server: RecordingServer,
) -> None:
    http_server.reply_with(Reply(status=500, body="boom"))
    raw = canary(alert("on-call"))
    kube = MemoryKube(provider("on-call", http_server.url + "/hook/t0ken"))
    world = world_of(kube, raw)
    rolling_back = eng.Notify("Rolling back podinfo.test", "error", alert="Failed checks threshold reached 2")
    assert await world.handle(rolling_back) is None
    assert http_server.requests == [], "nothing is sent while the tick decides"
    assert world.alerts == [PendingAlert("Failed checks threshold reached 2", "error")]
    assert world.events == [("Warning", "Synced", "Rolling back podinfo.test")], "the tick's Event is kept"
    assert kube.reasons() == [], "Events are recorded by the runner once the status is saved"


async def test_a_failing_endpoint_is_retried_then_reported_once(http_server: RecordingServer) -> None:
    http_server.reply_with(Reply(status=500, body="<h1>upstream\n\x00down</h1>" + "x" * 5000))
    raw = canary(alert("on-call"))
    kube = MemoryKube(provider("on-call", http_server.url + "/hook/t0ken"))
    outbox = AlertOutbox(attempts=3, backoff=0.01, deadline=2.0)
    outbox.send(cast(Kube, kube), Canary.from_k8s(raw), raw, [PendingAlert("Rolled back", "error")])
    assert http_server.requests == [], "send returns before anything is posted"
    await outbox.drain()
    assert len(http_server.requests) == 3
    attachment = http_server.requests[0].json()["attachments"][0]  # type: ignore[index]
    assert (attachment["text"], attachment["color"]) == ("Rolled back", "danger")
    assert attachment["fields"] == [
        {"title": "Target", "value": "Deployment/podinfo.test", "short": False},
        {"title": "Source", "value": "main@sha1:abc", "short": False},
    ]
    [event] = kube.events
    assert (event["type"], event["reason"]) == ("Warning", ALERT_FAILED)
    message = event["message"]
    assert message.startswith("alert provider test/on-call (slack) failed after 3 tries: ")
    assert "HTTP 500: <h1>upstream down</h1>xxx" in message
    assert "t0ken" not in message and "127.0.0.1" not in message
    assert len(message) < 250


async def test_a_silent_endpoint_costs_at_most_the_deadline_per_try() -> None:
    with silent_endpoint() as url:
        raw = canary(alert("on-call"))
        kube = MemoryKube(provider("on-call", url))
        outbox = AlertOutbox(attempts=2, backoff=0.01, deadline=0.3)
        started = time.monotonic()
        outbox.send(cast(Kube, kube), Canary.from_k8s(raw), raw, [PendingAlert("Rolled back", "error")])
        await asyncio.wait_for(outbox.drain(), timeout=5)
        assert time.monotonic() - started < 2.0
    [event] = kube.events
    assert event["reason"] == ALERT_FAILED
    assert "failed after 2 tries" in event["message"] and "no answer within 0.3s" in event["message"]


async def test_only_providers_whose_severity_accepts_the_alert_are_sent(http_server: RecordingServer) -> None:
    raw = canary(alert("errors-only", "error"), alert("everything", "info"))
    kube = MemoryKube(
        provider("errors-only", http_server.url + "/errors"), provider("everything", http_server.url + "/all")
    )
    outbox = AlertOutbox(backoff=0.01)
    outbox.send(cast(Kube, kube), Canary.from_k8s(raw), raw, [PendingAlert("New revision", "info")])
    await outbox.drain()
    assert [r.path for r in http_server.requests] == ["/all"]
    assert kube.events == []


async def test_an_unusable_provider_is_reported_without_retries(http_server: RecordingServer) -> None:
    raw = canary(alert("missing"), alert("ftp"), alert("on-call"))
    kube = MemoryKube(provider("ftp", "ftp://example/hook"), provider("on-call", http_server.url))
    outbox = AlertOutbox(backoff=0.01)
    outbox.send(cast(Kube, kube), Canary.from_k8s(raw), raw, [PendingAlert("Rolled back", "error")])
    await outbox.drain()
    messages = [e["message"] for e in kube.events]
    assert messages == [
        "alert provider test/missing: not found",
        "alert provider test/ftp: (slack) invalid slack hook URL: not an http(s) URL",
    ]
    assert len(http_server.requests) == 1, "the usable provider is still alerted"


async def test_a_canary_without_alerts_starts_nothing() -> None:
    raw = canary()
    outbox = AlertOutbox()
    outbox.send(cast(Kube, MemoryKube()), Canary.from_k8s(raw), raw, [PendingAlert("x", "error")])
    await outbox.drain()
    assert not outbox._tasks


def test_notify_errors_are_best_effort_in_the_taxonomy() -> None:
    from controller.notify import NotifyError

    assert issubclass(NotifyError, BestEffortError)
