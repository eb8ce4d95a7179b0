"""Select an alert notifier from an AlertProvider's fields and secret.

As in Flagger: the secret's ``address`` key overrides ``spec.address`` (and ``proxy``
overrides ``spec.proxy``); ``username`` defaults to ``DEFAULT_USERNAME`` and ``channel``
to ``general``; an empty address yields ``NopNotifier``. A Slack secret may also carry
``token`` for the ``chat.postMessage`` API. Unknown types raise ``UnknownNotifier``;
an address that is not an http(s) URL raises ``NotifyError`` without echoing it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from controller.api.alert_provider import SERVED_NOTIFIER_TYPES
from controller.notify.contract import Notifier, NotifyError
from controller.notify.discord import DiscordNotifier
from controller.notify.gchat import GChatNotifier
from controller.notify.msteams import MSTeamsNotifier
from controller.notify.nop import NopNotifier
from controller.notify.rocket import RocketNotifier
from controller.notify.slack import SlackNotifier

__all__ = ["DEFAULT_CHANNEL", "DEFAULT_USERNAME", "SUPPORTED_NOTIFIERS", "UnknownNotifier", "notifier_for"]

DEFAULT_USERNAME: Final = "gitcanary"
DEFAULT_CHANNEL: Final = "general"
SUPPORTED_NOTIFIERS: Final = SERVED_NOTIFIER_TYPES


class UnknownNotifier(NotifyError):
    """No notifier is registered for the AlertProvider type."""


def notifier_for(
    provider_type: str,
    *,
    address: str = "",
    channel: str = "",
    username: str = "",
    proxy: str | None = None,
    secret: Mapping[str, str] | None = None,
) -> Notifier:
    """Build the notifier for an AlertProvider."""
    if provider_type not in SUPPORTED_NOTIFIERS:
        raise UnknownNotifier(
            f"alert provider type {provider_type!r} is not supported; "
            f"supported types: {', '.join(SUPPORTED_NOTIFIERS)}"
        )
    data = secret or {}
    url = data.get("address") or address
    proxy_url = data.get("proxy") or proxy or None
    if not url:
        return NopNotifier()
    if not url.startswith(("http://", "https://")):
        raise NotifyError(f"invalid {provider_type} hook URL: not an http(s) URL")
    user = username or DEFAULT_USERNAME
    room = channel or DEFAULT_CHANNEL
    if provider_type == "slack":
        token = data.get("token") or None
        return SlackNotifier(url, username=user, channel=room, proxy=proxy_url, token=token)
    if provider_type == "discord":
        return DiscordNotifier(url, username=user, channel=room, proxy=proxy_url)
    if provider_type == "rocket":
        return RocketNotifier(url, username=user, channel=room, proxy=proxy_url)
    if provider_type == "msteams":
        return MSTeamsNotifier(url, proxy=proxy_url)
    return GChatNotifier(url, proxy=proxy_url)
