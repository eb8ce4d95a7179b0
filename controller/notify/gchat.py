"""Google Chat notifier: a legacy ``cards`` message posted to a space webhook.

Payload, as Flagger posts it: one card with header ``{title: "Flagger"`` (here
``HEADER_TITLE``), ``subtitle: <workload>.<namespace>``, ``imageUrl``} and one section
per line: first the message in grey bold, then each field as
``name<br><font color=#848484><strong>value</strong></font>``. Google Chat cards have no
severity color.
"""

from __future__ import annotations

from typing import Final

from controller.notify.skeleton import Alert, JsonNotifier

__all__ = ["HEADER_TITLE", "GChatNotifier"]

HEADER_TITLE: Final = "gitcanary"
HEADER_IMAGE: Final = "https://flagger.app/favicon.png"


def _paragraph(text: str) -> dict[str, object]:
    return {"widgets": [{"textParagraph": {"text": text}}]}


class GChatNotifier(JsonNotifier):
    """Posts card messages to a Google Chat incoming webhook."""

    def payload(self, alert: Alert) -> dict[str, object]:
        sections = [_paragraph(f"<font color=#848484><strong>{alert.message}</strong></font>")]
        sections.extend(
            _paragraph(f"{f.name}<br><font color=#848484><strong>{f.value}</strong></font>")
            for f in alert.fields
        )
        header = {"title": HEADER_TITLE, "subtitle": alert.subject, "imageUrl": HEADER_IMAGE}
        return {"cards": [{"header": header, "sections": sections}]}
