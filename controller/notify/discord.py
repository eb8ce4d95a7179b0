"""Discord notifier through Discord's Slack-compatible webhook endpoint.

As in Flagger, ``/slack`` is appended to the webhook path unless already present, and the Slack
attachment payload is sent (``danger`` for errors, ``good`` otherwise).
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from controller.notify.slack import SlackStyleNotifier

__all__ = ["DiscordNotifier", "slack_compatible_url"]


def slack_compatible_url(address: str) -> str:
    """Append ``/slack`` to the webhook path (once), keeping the query string."""
    parts = urlsplit(address)
    if parts.path.endswith("/slack"):
        return address
    path = parts.path.rstrip("/") + "/slack"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


class DiscordNotifier(SlackStyleNotifier):
    """Posts Slack-formatted alerts to a Discord webhook."""

    kind = "Discord"

    def endpoint(self, address: str) -> str:
        return slack_compatible_url(address)
