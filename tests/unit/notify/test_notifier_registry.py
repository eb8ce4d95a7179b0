from __future__ import annotations

import pytest

from controller.notify import (
    DiscordNotifier,
    GChatNotifier,
    MSTeamsNotifier,
    NopNotifier,
    Notifier,
    NotifyError,
    RocketNotifier,
    SlackNotifier,
    UnknownNotifier,
    notifier_for,
    should_send,
)
from tests.recording_http import RecordingServer


@pytest.mark.parametrize(
    ("kind", "cls"),
    [
        ("slack", SlackNotifier),
        ("discord", DiscordNotifier),
        ("rocket", RocketNotifier),
        ("msteams", MSTeamsNotifier),
        ("gchat", GChatNotifier),
    ],
)
def test_registry_selects_by_type(kind: str, cls: type) -> None:
    notifier = notifier_for(kind, address="https://hooks.example.com/x")
    assert isinstance(notifier, cls)
    assert isinstance(notifier, Notifier)


def test_empty_address_gives_the_null_notifier() -> None:
    assert isinstance(notifier_for("slack"), NopNotifier)


def test_the_generic_webhook_type_is_not_served_as_in_flagger() -> None:
    """Flagger 1.44 has no generic JSON notifier: the AlertProvider enum and the registry agree."""
    with pytest.raises(UnknownNotifier, match="'webhook' is not supported"):
        notifier_for("webhook", address="https://hooks.example.com/x")


def test_unknown_type_is_rejected() -> None:
    with pytest.raises(UnknownNotifier, match="'pagerduty' is not supported; supported types: discord"):
        notifier_for("pagerduty", address="https://x")


def test_invalid_address_is_rejected_without_echoing_it() -> None:
    with pytest.raises(NotifyError, match="invalid slack hook URL") as info:
        notifier_for("slack", address="hooks.slack.com/services/SECRET")
    assert "SECRET" not in str(info.value)


async def test_secret_address_overrides_spec_and_defaults_apply(http_server: RecordingServer) -> None:
    notifier = notifier_for(
        "slack", address="https://unused.invalid/", secret={"address": http_server.url + "/from-secret"}
    )
    await notifier.post("podinfo", "test", "hello", [], "info")
    (request,) = http_server.requests
    assert request.path == "/from-secret"
    body = request.json()
    assert (body["username"], body["channel"]) == ("gitcanary", "general")  # type: ignore[index]


async def test_secret_token_reaches_slack(http_server: RecordingServer) -> None:
    notifier = notifier_for(
        "slack", address=http_server.url, channel="deploys", username="bot", secret={"token": "xoxb-1"}
    )
    await notifier.post("podinfo", "test", "hello", [], "info")
    request = http_server.requests[0]
    assert request.headers["authorization"] == "Bearer xoxb-1"
    assert request.json()["channel"] == "deploys"  # type: ignore[index]


@pytest.mark.parametrize(
    ("alert", "event", "sent"),
    [
        ("info", "info", True),
        ("info", "warn", True),
        ("info", "error", True),
        ("warn", "info", False),
        ("warn", "warn", True),
        ("warn", "error", True),
        ("error", "info", False),
        ("error", "warn", False),
        ("error", "error", True),
    ],
)
def test_should_send_filters_by_severity(alert: str, event: str, sent: bool) -> None:
    assert should_send(alert, event) is sent  # type: ignore[arg-type]
