"""Slack incoming-webhook notifier (and the Slack ``chat.postMessage`` API with a token).

Payload, as Flagger posts it: ``channel``, ``username``, ``icon_emoji: ":rocket:"`` and one
attachment with ``color`` (``danger`` for errors, ``good`` otherwise), ``author_name``
``<workload>.<namespace>``, ``text`` the message, ``mrkdwn_in: ["text"]`` and the fields as
``{title, value, short: false}``. With a token the same payload is sent with
``Authorization: Bearer <token>``. Delivery succeeds only on HTTP 200.
"""

from __future__ import annotations

from collections.abc import Sequence

from controller.notify.contract import DEFAULT_NOTIFY_TIMEOUT, Field, NotifyError, Severity
from controller.notify.delivery import post_json

__all__ = ["SlackNotifier", "slack_payload"]


def slack_payload(
    *,
    channel: str,
    username: str,
    workload: str,
    namespace: str,
    message: str,
    fields: Sequence[Field],
    color: str,
) -> dict[str, object]:
    """The Slack-compatible message body shared by Slack, Discord and Rocket.Chat."""
    return {
        "channel": channel,
        "username": username,
        "icon_url": "",
        "icon_emoji": ":rocket:",
        "attachments": [
            {
                "color": color,
                "author_name": f"{workload}.{namespace}",
                "text": message,
                "mrkdwn_in": ["text"],
                "fields": [{"title": f.name, "value": f.value, "short": False} for f in fields],
            }
        ],
    }


def require_identity(kind: str, username: str, channel: str) -> None:
    """Flagger refuses Slack-style notifiers without a username or channel."""
    if not username:
        raise NotifyError(f"empty {kind} username")
    if not channel:
        raise NotifyError(f"empty {kind} channel")


class SlackNotifier:
    """Posts Flagger-style attachments to a Slack webhook or API endpoint."""

    def __init__(
        self,
        address: str,
        *,
        username: str,
        channel: str,
        proxy: str | None = None,
        token: str | None = None,
        timeout: float = DEFAULT_NOTIFY_TIMEOUT,
    ) -> None:
        require_identity("Slack", username, channel)
        self._address = address
        self._username = username
        self._channel = channel
        self._proxy = proxy
        self._token = token
        self._timeout = timeout

    async def post(
        self, workload: str, namespace: str, message: str, fields: Sequence[Field], severity: Severity
    ) -> None:
        """Send one alert; ``error`` severity is shown in red (``danger``)."""
        payload = slack_payload(
            channel=self._channel,
            username=self._username,
            workload=workload,
            namespace=namespace,
            message=message,
            fields=fields,
            color="danger" if severity == "error" else "good",
        )
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else None
        await post_json(
            self._address,
            payload,
            proxy=self._proxy,
            headers=headers,
            timeout=self._timeout,
            secrets=(self._token or "",),
        )
