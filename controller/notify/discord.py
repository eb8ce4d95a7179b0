"""Discord notifier through Discord's Slack-compatible webhook endpoint.

As in Flagger, ``/slack`` is appended to the webhook path unless already present, and
the Slack attachment payload is sent (``danger`` for errors, ``good`` otherwise).
Delivery succeeds only on HTTP 200.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit, urlunsplit

from controller.notify.contract import DEFAULT_NOTIFY_TIMEOUT, Field, Severity
from controller.notify.delivery import post_json
from controller.notify.slack import require_identity, slack_payload

__all__ = ["DiscordNotifier", "slack_compatible_url"]


def slack_compatible_url(address: str) -> str:
    """Append ``/slack`` to the webhook path (once), keeping the query string."""
    parts = urlsplit(address)
    if parts.path.endswith("/slack"):
        return address
    path = parts.path.rstrip("/") + "/slack"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


class DiscordNotifier:
    """Posts Slack-formatted alerts to a Discord webhook."""

    def __init__(
        self,
        address: str,
        *,
        username: str,
        channel: str,
        proxy: str | None = None,
        timeout: float = DEFAULT_NOTIFY_TIMEOUT,
    ) -> None:
        require_identity("Discord", username, channel)
        self._address = slack_compatible_url(address)
        self._username = username
        self._channel = channel
        self._proxy = proxy
        self._timeout = timeout

    async def post(
        self, workload: str, namespace: str, message: str, fields: Sequence[Field], severity: Severity
    ) -> None:
        """Send one alert."""
        payload = slack_payload(
            channel=self._channel,
            username=self._username,
            workload=workload,
            namespace=namespace,
            message=message,
            fields=fields,
            color="danger" if severity == "error" else "good",
        )
        await post_json(self._address, payload, proxy=self._proxy, timeout=self._timeout)
