"""Microsoft Teams notifier: an Office 365 connector ``MessageCard``.

Payload, as Flagger posts it: ``@type: MessageCard``, ``@context:
http://schema.org/extensions``, ``themeColor`` (``FF0000`` for errors, ``0076D7``
otherwise), ``summary`` ``<workload>.<namespace>`` and one section whose
``activityTitle`` is the message, ``activitySubtitle`` the workload and ``facts`` the
fields as ``{name, value}``. Success on HTTP 200.
"""

from __future__ import annotations

from collections.abc import Sequence

from controller.notify.contract import DEFAULT_NOTIFY_TIMEOUT, Field, Severity
from controller.notify.delivery import post_json

__all__ = ["MSTeamsNotifier"]


class MSTeamsNotifier:
    """Posts MessageCards to a Teams incoming webhook."""

    def __init__(
        self, address: str, *, proxy: str | None = None, timeout: float = DEFAULT_NOTIFY_TIMEOUT
    ) -> None:
        self._address = address
        self._proxy = proxy
        self._timeout = timeout

    async def post(
        self, workload: str, namespace: str, message: str, fields: Sequence[Field], severity: Severity
    ) -> None:
        """Send one alert."""
        subject = f"{workload}.{namespace}"
        payload = {
            "@type": "MessageCard",
            "@context": "http://schema.org/extensions",
            "themeColor": "FF0000" if severity == "error" else "0076D7",
            "summary": subject,
            "sections": [
                {
                    "activityTitle": message,
                    "activitySubtitle": subject,
                    "facts": [{"name": f.name, "value": f.value} for f in fields],
                }
            ],
        }
        await post_json(self._address, payload, proxy=self._proxy, timeout=self._timeout)
