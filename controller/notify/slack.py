"""Slack incoming-webhook notifier (and the Slack ``chat.postMessage`` API with a token).

Payload, as Flagger posts it: ``channel``, ``username``, ``icon_emoji: ":rocket:"`` and one
attachment with ``color`` (``danger`` for errors, ``good`` otherwise), ``author_name``
``<workload>.<namespace>``, ``text`` the message, ``mrkdwn_in: ["text"]`` and the fields as
``{title, value, short: false}``. With a token the same payload is sent with
``Authorization: Bearer <token>``. Discord and Rocket.Chat take the same payload
(``SlackStyleNotifier``); each of them sets only its colors and, for Discord, its endpoint.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from controller.notify.contract import DEFAULT_NOTIFY_TIMEOUT, NotifyError
from controller.notify.skeleton import Alert, JsonNotifier

__all__ = ["SlackNotifier", "SlackStyleNotifier"]


class SlackStyleNotifier(JsonNotifier):
    """The Slack attachment payload; Flagger refuses these notifiers without username or channel."""

    kind: ClassVar[str] = "Slack"
    error_color: ClassVar[str] = "danger"
    color: ClassVar[str] = "good"

    def __init__(
        self,
        address: str,
        *,
        username: str,
        channel: str,
        proxy: str | None = None,
        timeout: float = DEFAULT_NOTIFY_TIMEOUT,
    ) -> None:
        if not username:
            raise NotifyError(f"empty {self.kind} username")
        if not channel:
            raise NotifyError(f"empty {self.kind} channel")
        super().__init__(address, proxy=proxy, timeout=timeout)
        self._username = username
        self._channel = channel

    def payload(self, alert: Alert) -> dict[str, object]:
        return {
            "channel": self._channel,
            "username": self._username,
            "icon_url": "",
            "icon_emoji": ":rocket:",
            "attachments": [
                {
                    "color": self.error_color if alert.severity == "error" else self.color,
                    "author_name": alert.subject,
                    "text": alert.message,
                    "mrkdwn_in": ["text"],
                    "fields": [{"title": f.name, "value": f.value, "short": False} for f in alert.fields],
                }
            ],
        }


class SlackNotifier(SlackStyleNotifier):
    """Posts Flagger-style attachments to a Slack webhook or API endpoint."""

    def __init__(self, address: str, *, token: str | None = None, **identity: Any) -> None:
        """``identity``: ``username``, ``channel`` and optionally ``proxy`` and ``timeout``."""
        super().__init__(address, **identity)
        self._token = token or ""

    def headers(self) -> Mapping[str, str]:
        return {"Authorization": f"Bearer {self._token}"} if self._token else {}

    def secrets(self) -> Sequence[str]:
        return (self._token,)
