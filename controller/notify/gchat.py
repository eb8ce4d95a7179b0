"""Google Chat notifier: a legacy ``cards`` message posted to a space webhook.

Payload, as Flagger posts it: one card with header ``{title: "Flagger"`` (here
``HEADER_TITLE``), ``subtitle: <workload>.<namespace>``, ``imageUrl``} and one section
per line: first the message in grey bold, then each field as
``name<br><font color=#848484><strong>value</strong></font>``. Success on HTTP 200.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from controller.notify.contract import DEFAULT_NOTIFY_TIMEOUT, Field, Severity
from controller.notify.delivery import post_json

__all__ = ["HEADER_TITLE", "GChatNotifier"]

HEADER_TITLE: Final = "gitcanary"
HEADER_IMAGE: Final = "https://flagger.app/favicon.png"


def _paragraph(text: str) -> dict[str, object]:
    return {"widgets": [{"textParagraph": {"text": text}}]}


class GChatNotifier:
    """Posts card messages to a Google Chat incoming webhook."""

    def __init__(
        self, address: str, *, proxy: str | None = None, timeout: float = DEFAULT_NOTIFY_TIMEOUT
    ) -> None:
        self._address = address
        self._proxy = proxy
        self._timeout = timeout

    async def post(
        self, workload: str, namespace: str, message: str, fields: Sequence[Field], severity: Severity
    ) -> None:
        """Send one alert (Google Chat cards have no severity color)."""
        sections = [_paragraph(f"<font color=#848484><strong>{message}</strong></font>")]
        sections.extend(
            _paragraph(f"{f.name}<br><font color=#848484><strong>{f.value}</strong></font>") for f in fields
        )
        payload = {
            "cards": [
                {
                    "header": {
                        "title": HEADER_TITLE,
                        "subtitle": f"{workload}.{namespace}",
                        "imageUrl": HEADER_IMAGE,
                    },
                    "sections": sections,
                }
            ]
        }
        await post_json(self._address, payload, proxy=self._proxy, timeout=self._timeout)
