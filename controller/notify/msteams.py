"""Microsoft Teams notifier: an Office 365 connector ``MessageCard``.

Payload, as Flagger posts it: ``@type: MessageCard``, ``@context:
http://schema.org/extensions``, ``themeColor`` (``FF0000`` for errors, ``0076D7``
otherwise), ``summary`` ``<workload>.<namespace>`` and one section whose
``activityTitle`` is the message, ``activitySubtitle`` the workload and ``facts`` the
fields as ``{name, value}``.
"""

from __future__ import annotations

from controller.notify.skeleton import Alert, JsonNotifier

__all__ = ["MSTeamsNotifier"]


class MSTeamsNotifier(JsonNotifier):
    """Posts MessageCards to a Teams incoming webhook."""

    def payload(self, alert: Alert) -> dict[str, object]:
        return {
            "@type": "MessageCard",
            "@context": "http://schema.org/extensions",
            "themeColor": "FF0000" if alert.severity == "error" else "0076D7",
            "summary": alert.subject,
            "sections": [
                {
                    "activityTitle": alert.message,
                    "activitySubtitle": alert.subject,
                    "facts": [{"name": f.name, "value": f.value} for f in alert.fields],
                }
            ],
        }
