"""Rocket.Chat notifier: the Slack attachment payload posted to a Rocket.Chat webhook.

Colors follow Flagger: ``#FF0000`` for errors, ``#0076D7`` otherwise.
"""

from __future__ import annotations

from controller.notify.slack import SlackStyleNotifier

__all__ = ["RocketNotifier"]


class RocketNotifier(SlackStyleNotifier):
    """Posts Slack-formatted alerts to a Rocket.Chat incoming webhook."""

    kind = "Rocket"
    error_color = "#FF0000"
    color = "#0076D7"
