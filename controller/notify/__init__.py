"""Alert providers: one notifier per file behind the one-method ``Notifier`` Protocol."""

from controller.notify.contract import (
    DEFAULT_NOTIFY_TIMEOUT,
    Field,
    Notifier,
    NotifyError,
    Severity,
    should_send,
)
from controller.notify.delivery import NotifyRefused
from controller.notify.discord import DiscordNotifier
from controller.notify.gchat import GChatNotifier
from controller.notify.msteams import MSTeamsNotifier
from controller.notify.nop import NopNotifier
from controller.notify.registry import SUPPORTED_NOTIFIERS, UnknownNotifier, notifier_for
from controller.notify.rocket import RocketNotifier
from controller.notify.slack import SlackNotifier

__all__ = [
    "DEFAULT_NOTIFY_TIMEOUT",
    "SUPPORTED_NOTIFIERS",
    "DiscordNotifier",
    "Field",
    "GChatNotifier",
    "MSTeamsNotifier",
    "NopNotifier",
    "Notifier",
    "NotifyError",
    "NotifyRefused",
    "RocketNotifier",
    "Severity",
    "SlackNotifier",
    "UnknownNotifier",
    "notifier_for",
    "should_send",
]
