"""The controller's default alert (`gitcanary run --slack-url`...) and `--cluster-name`, as Flagger.

Flagger (pkg/controller/events.go, ``alert``): a Canary without ``analysis.alerts`` posts every
alert, whatever its severity, to the global notifier; a Canary with alerts uses only its own
providers; the cluster name is the first field of every alert. The endpoints are real HTTP
servers on 127.0.0.1, the API server the in-memory ``MemoryKube``.
"""

from __future__ import annotations

from typing import Any, cast

from memory_kube import MemoryKube

from controller.api import Canary
from controller.kube import Kube
from controller.notify.settings import ControllerAlerts
from controller.reconcile.alerts import ALERT_FAILED, AlertOutbox, PendingAlert
from tests.recording_http import RecordingServer, Reply, serve_recording

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
    }


def outbox(url: str, cluster: str = "") -> AlertOutbox:
    settings = ControllerAlerts.from_options(slack_url=url, slack_channel="deploys", cluster_name=cluster)
    return AlertOutbox(default=settings.default_alert(), cluster_name=cluster, backoff=0.01)


async def test_a_canary_without_alerts_gets_every_alert_on_the_default(http_server: RecordingServer) -> None:
    raw = canary()
    box = outbox(http_server.url + "/services/T/B/X", cluster="prod-eu")
    sent = [PendingAlert("New revision detected", "info"), PendingAlert("Rolled back", "error")]
    box.send(cast(Kube, MemoryKube()), Canary.from_k8s(raw), raw, sent)
    await box.drain()
    bodies = sorted(
        (cast(Obj, r.json()) for r in http_server.requests), key=lambda b: b["attachments"][0]["text"]
    )
    assert [b["attachments"][0]["text"] for b in bodies] == ["New revision detected", "Rolled back"]
    assert bodies[0]["channel"] == "deploys"
    assert bodies[0]["attachments"][0]["fields"] == [
        {"title": "Cluster", "value": "prod-eu", "short": False},
        {"title": "Target", "value": "Deployment/podinfo.test", "short": False},
    ]


async def test_a_canary_with_alerts_never_uses_the_default(http_server: RecordingServer) -> None:
    with serve_recording() as own:
        provider = {
            "apiVersion": "gitcanary.io/v1beta1",
            "kind": "AlertProvider",
            "metadata": {"name": "team", "namespace": NS},
            "spec": {"type": "msteams", "address": own.url + "/team"},
        }
        raw = canary({"name": "team", "severity": "error", "providerRef": {"name": "team"}})
        box = outbox(http_server.url, cluster="prod-eu")
        alerts = [PendingAlert("New revision detected", "info"), PendingAlert("Rolled back", "error")]
        box.send(cast(Kube, MemoryKube(provider)), Canary.from_k8s(raw), raw, alerts)
        await box.drain()
        assert http_server.requests == []
        (request,) = own.requests  # the severity filter applies to the Canary's own providers
        facts = cast(Obj, request.json())["sections"][0]["facts"]
        assert facts[0] == {"name": "Cluster", "value": "prod-eu"}


async def test_a_failing_default_is_retried_then_reported_naming_the_flag(
    http_server: RecordingServer,
) -> None:
    http_server.reply_with(Reply(status=500, body="down"))
    raw = canary()
    kube = MemoryKube()
    box = outbox(http_server.url + "/services/T/B/s3cr3t")
    box.send(cast(Kube, kube), Canary.from_k8s(raw), raw, [PendingAlert("Rolled back", "error")])
    await box.drain()
    assert len(http_server.requests) == 3
    [event] = kube.events
    assert event["reason"] == ALERT_FAILED
    assert (
        event["message"]
        == "alert provider --slack-url (slack) failed after 3 tries: sending notification failed: HTTP 500: down"
    )


async def test_a_refused_provider_is_reported_at_once(monkeypatch: Any, http_server: RecordingServer) -> None:
    monkeypatch.setenv("GITCANARY_ALLOWED_URLS", "https://hooks.slack.com/")
    raw = canary()
    kube = MemoryKube()
    box = outbox(http_server.url + "/services/T/B/s3cr3t")
    box.send(cast(Kube, kube), Canary.from_k8s(raw), raw, [PendingAlert("Rolled back", "error")])
    await box.drain()
    assert http_server.requests == []
    [event] = kube.events
    assert event["message"].startswith(
        "alert provider --slack-url (slack): sending notification refused: host 127.0.0.1"
    )
    assert "s3cr3t" not in event["message"]


async def test_without_a_default_a_canary_without_alerts_sends_nothing() -> None:
    raw = canary()
    box = AlertOutbox(cluster_name="prod-eu")
    box.send(cast(Kube, MemoryKube()), Canary.from_k8s(raw), raw, [PendingAlert("x", "error")])
    await box.drain()
    assert not box._tasks
