from __future__ import annotations

import pytest

from controller.notify import (
    DiscordNotifier,
    Field,
    GChatNotifier,
    MSTeamsNotifier,
    NopNotifier,
    Notifier,
    NotifyError,
    RocketNotifier,
    SlackNotifier,
)
from tests.recording_http import RecordingServer, Reply

FIELDS = [Field("Target", "Deployment/podinfo.test"), Field("Failed checks threshold", "5")]
MESSAGE = "Canary analysis failed, rollback finished."


async def test_slack_attachment_shape_and_colors(http_server: RecordingServer) -> None:
    notifier = SlackNotifier(http_server.url + "/services/T/B/X", username="gitcanary", channel="deploys")
    await notifier.post("podinfo", "test", MESSAGE, FIELDS, "error")
    await notifier.post("podinfo", "test", "New revision detected", [], "info")
    first, second = (r.json() for r in http_server.requests)
    assert http_server.requests[0].path == "/services/T/B/X"
    assert first == {
        "channel": "deploys",
        "username": "gitcanary",
        "icon_url": "",
        "icon_emoji": ":rocket:",
        "attachments": [
            {
                "color": "danger",
                "author_name": "podinfo.test",
                "text": MESSAGE,
                "mrkdwn_in": ["text"],
                "fields": [
                    {"title": "Target", "value": "Deployment/podinfo.test", "short": False},
                    {"title": "Failed checks threshold", "value": "5", "short": False},
                ],
            }
        ],
    }
    assert second["attachments"][0]["color"] == "good"  # type: ignore[index]
    assert "authorization" not in http_server.requests[0].headers


async def test_slack_token_is_sent_as_bearer_and_never_echoed(http_server: RecordingServer) -> None:
    http_server.reply_with(lambda r: Reply(status=403, body=f"invalid {r.headers['authorization']}"))
    notifier = SlackNotifier(http_server.url, username="u", channel="c", token="xoxb-secret")
    with pytest.raises(NotifyError, match="HTTP 403") as info:
        await notifier.post("podinfo", "test", MESSAGE, [], "warn")
    assert http_server.requests[0].headers["authorization"] == "Bearer xoxb-secret"
    assert "xoxb-secret" not in str(info.value)


def test_slack_requires_username_and_channel() -> None:
    with pytest.raises(NotifyError, match="empty Slack username"):
        SlackNotifier("http://x", username="", channel="c")
    with pytest.raises(NotifyError, match="empty Slack channel"):
        SlackNotifier("http://x", username="u", channel="")


async def test_discord_posts_to_the_slack_compatible_endpoint(http_server: RecordingServer) -> None:
    notifier = DiscordNotifier(http_server.url + "/api/webhooks/1/tok", username="u", channel="c")
    await notifier.post("podinfo", "test", MESSAGE, FIELDS, "warn")
    already = DiscordNotifier(http_server.url + "/api/webhooks/1/tok/slack", username="u", channel="c")
    await already.post("podinfo", "test", MESSAGE, [], "error")
    assert [r.path for r in http_server.requests] == ["/api/webhooks/1/tok/slack"] * 2
    colors = [r.json()["attachments"][0]["color"] for r in http_server.requests]  # type: ignore[index]
    assert colors == ["good", "danger"]


async def test_rocket_uses_slack_payload_with_hex_colors(http_server: RecordingServer) -> None:
    notifier = RocketNotifier(http_server.url + "/hooks/abc", username="bot", channel="ops")
    await notifier.post("podinfo", "test", MESSAGE, FIELDS, "error")
    await notifier.post("podinfo", "test", MESSAGE, FIELDS, "info")
    bodies = [r.json() for r in http_server.requests]
    assert [b["attachments"][0]["color"] for b in bodies] == ["#FF0000", "#0076D7"]  # type: ignore[index]
    assert bodies[0]["channel"] == "ops" and bodies[0]["username"] == "bot"  # type: ignore[index]


async def test_msteams_message_card(http_server: RecordingServer) -> None:
    await MSTeamsNotifier(http_server.url).post("podinfo", "test", MESSAGE, FIELDS, "error")
    await MSTeamsNotifier(http_server.url).post("podinfo", "test", MESSAGE, [], "warn")
    card, plain = (r.json() for r in http_server.requests)
    assert card == {
        "@type": "MessageCard",
        "@context": "http://schema.org/extensions",
        "themeColor": "FF0000",
        "summary": "podinfo.test",
        "sections": [
            {
                "activityTitle": MESSAGE,
                "activitySubtitle": "podinfo.test",
                "facts": [
                    {"name": "Target", "value": "Deployment/podinfo.test"},
                    {"name": "Failed checks threshold", "value": "5"},
                ],
            }
        ],
    }
    assert plain["themeColor"] == "0076D7"  # type: ignore[index]


async def test_gchat_card(http_server: RecordingServer) -> None:
    await GChatNotifier(http_server.url).post("podinfo", "test", MESSAGE, FIELDS[:1], "info")
    body = http_server.requests[0].json()
    (card,) = body["cards"]  # type: ignore[index]
    assert card["header"]["subtitle"] == "podinfo.test"
    assert card["header"]["title"] == "gitcanary"
    texts = [s["widgets"][0]["textParagraph"]["text"] for s in card["sections"]]
    assert texts == [
        f"<font color=#848484><strong>{MESSAGE}</strong></font>",
        "Target<br><font color=#848484><strong>Deployment/podinfo.test</strong></font>",
    ]


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
async def test_any_2xx_is_delivered_as_in_flagger(http_server: RecordingServer, status: int) -> None:
    """Flagger 1.44 (pkg/notifier/client.go) fails a notification only outside 200-299."""
    http_server.reply_with(Reply(status=status, body="accepted"))
    await MSTeamsNotifier(http_server.url).post("podinfo", "test", MESSAGE, [], "info")


@pytest.mark.parametrize("status", [300, 302, 404, 500])
async def test_a_status_outside_2xx_fails(http_server: RecordingServer, status: int) -> None:
    http_server.reply_with(Reply(status=status, body="nope"))
    with pytest.raises(NotifyError, match=f"HTTP {status}"):
        await SlackNotifier(http_server.url, username="u", channel="c").post("w", "n", "m", [], "info")


async def test_errors_never_contain_the_hook_address(http_server: RecordingServer) -> None:
    address = http_server.url + "/services/T000/B000/SECRETPART"
    http_server.reply_with(lambda r: Reply(status=404, body=f"no hook at {address}"))
    with pytest.raises(NotifyError) as info:
        await SlackNotifier(address, username="u", channel="c").post("w", "n", "m", [], "info")
    assert "SECRETPART" not in str(info.value)


async def test_timeout_and_unreachable_endpoints_raise(http_server: RecordingServer) -> None:
    http_server.reply_with(Reply(delay=0.5))
    with pytest.raises(NotifyError, match=r"no answer within 0\.1s"):
        await MSTeamsNotifier(http_server.url, timeout=0.1).post("w", "n", "m", [], "info")
    with pytest.raises(NotifyError, match="sending notification failed"):
        await GChatNotifier("http://127.0.0.1:9/hook", timeout=1.0).post("w", "n", "m", [], "info")


async def test_proxy_is_used_for_delivery(http_server: RecordingServer) -> None:
    notifier = MSTeamsNotifier("http://teams.invalid/webhook/abc", proxy=http_server.url)
    await notifier.post("podinfo", "test", MESSAGE, [], "info")
    (request,) = http_server.requests
    assert request.headers["host"] == "teams.invalid"
    assert request.path == "/webhook/abc"  # absolute-form request line, split by the recorder
    assert request.json()["summary"] == "podinfo.test"  # type: ignore[index]


async def test_nop_notifier_sends_nothing(http_server: RecordingServer) -> None:
    notifier: Notifier = NopNotifier()
    await notifier.post("w", "n", "m", FIELDS, "error")
    assert http_server.requests == []
