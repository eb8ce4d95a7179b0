"""Rocket.Chat notifier: the Slack attachment payload posted to a Rocket.Chat webhook.

Colors follow Flagger: ``#FF0000`` for errors, ``#0076D7`` otherwise. Success on HTTP 200.
"""

from __future__ import annotations

from collections.abc import Sequence

from controller.notify.contract import DEFAULT_NOTIFY_TIMEOUT, Field, Severity
from controller.notify.delivery import post_json
from controller.notify.slack import require_identity, slack_payload

__all__ = ["RocketNotifier"]


class RocketNotifier:
    """Posts Slack-formatted alerts to a Rocket.Chat incoming webhook."""

    def __init__(
        self,
        address: str,
        *,
        username: str,
        channel: str,
        proxy: str | None = None,
        timeout: float = DEFAULT_NOTIFY_TIMEOUT,
    ) -> None:
        require_identity("Rocket", username, channel)
        self._address = address
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
            color="#FF0000" if severity == "error" else "#0076D7",
        )
        await post_json(self._address, payload, proxy=self._proxy, timeout=self._timeout)
