"""Controller-wide alerting, as Flagger's flags set it: a default alert, an event webhook, a cluster name.

What ``gitcanary run`` accepts (each flag also reads ``GITCANARY_<NAME>`` and, where Flagger has
one, Flagger's own environment variable, e.g. ``SLACK_URL``):

- ``--slack-url`` (``--slack-token``, ``--slack-proxy-url``, ``--slack-user``, ``--slack-channel``),
  ``--msteams-url`` (``--msteams-proxy-url``) or ``--discord-url`` (``--discord-proxy-url``; a
  gitcanary addition, with the Slack user and channel): the default alert. As in Flagger
  (``pkg/controller/events.go``) it receives every alert of the Canaries whose
  ``analysis.alerts`` is empty, with no severity filter; a Canary with alerts never uses it.
  As in Flagger's ``initNotifier``, ``--msteams-url`` wins over ``--slack-url``; Discord, which
  Flagger has no flag for, combines with neither. A Slack default needs a channel (Flagger's
  Slack notifier refuses an empty one); here that is a start-up error instead of no alerts.
- ``--cluster-name``: a first field ``Cluster`` in every alert, default or AlertProvider.
- ``--event-webhook`` (Flagger's ``EVENT_WEBHOOK_URL``): every Event gitcanary records for a
  Canary is posted there as Flagger's event-webhook payload (``controller.notify.event_webhook``).

``ControllerAlerts.env`` and ``from_env`` carry the settings from the command line to the
operator through the process environment, never through ``argv`` (``ps`` shows that).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

import httpx

from controller.notify.contract import Notifier
from controller.notify.event_webhook import EventWebhook
from controller.notify.registry import DEFAULT_CHANNEL, DEFAULT_USERNAME, notifier_for
from controller.url_policy import static_refusal

__all__ = ["ENV", "ControllerAlerts", "DefaultAlert"]

ENV: Final = {
    "slack_url": "GITCANARY_SLACK_URL",
    "slack_token": "GITCANARY_SLACK_TOKEN",
    "slack_proxy_url": "GITCANARY_SLACK_PROXY_URL",
    "slack_user": "GITCANARY_SLACK_USER",
    "slack_channel": "GITCANARY_SLACK_CHANNEL",
    "msteams_url": "GITCANARY_MSTEAMS_URL",
    "msteams_proxy_url": "GITCANARY_MSTEAMS_PROXY_URL",
    "discord_url": "GITCANARY_DISCORD_URL",
    "discord_proxy_url": "GITCANARY_DISCORD_PROXY_URL",
    "event_webhook": "GITCANARY_EVENT_WEBHOOK",
    "cluster_name": "GITCANARY_CLUSTER_NAME",
}
"""The environment variable of each option (``gitcanary run`` reads and sets these)."""

FLAGGER_ENV: Final = {
    "slack_url": "SLACK_URL",
    "slack_token": "SLACK_TOKEN",
    "slack_proxy_url": "SLACK_PROXY_URL",
    "msteams_url": "MSTEAMS_URL",
    "msteams_proxy_url": "MSTEAMS_PROXY_URL",
    "event_webhook": "EVENT_WEBHOOK_URL",
}
"""Flagger's environment variables, read when the gitcanary one is unset (for migration)."""

Kind = Literal["slack", "msteams", "discord"]

_URL_OPTIONS: Final = tuple(name for name in ENV if name.endswith(("_url", "_webhook")))


@dataclass(frozen=True)
class DefaultAlert:
    """The controller's default alert: its notifier, and the flag that configured it."""

    notifier: Notifier
    kind: Kind
    flag: str


@dataclass(frozen=True)
class ControllerAlerts:
    """The controller-wide alert settings (see the module docstring)."""

    kind: Kind | None = None
    url: str = ""
    proxy: str = ""
    token: str = ""
    username: str = DEFAULT_USERNAME
    channel: str = ""
    event_webhook: str = ""
    cluster_name: str = ""
    options: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_options(cls, **options: str | None) -> ControllerAlerts:
        """Validate the options named in ``ENV``; raise ``ValueError`` naming the flag at fault."""
        unknown = set(options) - set(ENV)
        if unknown:
            raise TypeError(f"unknown alert options: {sorted(unknown)}")
        given = {name: (value or "").strip() for name, value in options.items() if value}
        for name in _URL_OPTIONS:
            _check_url(name, given.get(name, ""))
        for service in ("slack", "msteams", "discord"):
            if given.get(f"{service}_proxy_url") and not given.get(f"{service}_url"):
                raise ValueError(f"{_flag(service + '_proxy_url')} needs {_flag(service + '_url')}")
        if given.get("discord_url") and (given.get("slack_url") or given.get("msteams_url")):
            raise ValueError("--discord-url cannot be combined with --slack-url or --msteams-url")
        hook, cluster = given.get("event_webhook", ""), given.get("cluster_name", "")
        user = given.get("slack_user") or DEFAULT_USERNAME
        kind: Kind | None = None
        url = proxy = token = channel = ""
        if given.get("msteams_url"):  # Flagger: MS Teams wins over Slack
            kind, url, proxy = "msteams", given["msteams_url"], given.get("msteams_proxy_url", "")
        elif given.get("discord_url"):
            kind, url, proxy = "discord", given["discord_url"], given.get("discord_proxy_url", "")
            channel = given.get("slack_channel") or DEFAULT_CHANNEL
        elif given.get("slack_url"):
            if not given.get("slack_channel"):
                raise ValueError("--slack-url needs --slack-channel (Slack refuses a message without one)")
            kind, url, proxy = "slack", given["slack_url"], given.get("slack_proxy_url", "")
            token, channel = given.get("slack_token", ""), given["slack_channel"]
        return cls(kind, url, proxy, token, user, channel, hook, cluster, given)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ControllerAlerts:
        """The settings from ``GITCANARY_*``, else Flagger's variables (``SLACK_URL``...)."""
        values = {
            name: environ.get(variable) or environ.get(FLAGGER_ENV.get(name, ""), "")
            for name, variable in ENV.items()
        }
        return cls.from_options(**values)

    def env(self) -> dict[str, str]:
        """The ``GITCANARY_*`` variables that ``from_env`` turns back into these settings."""
        return {ENV[name]: value for name, value in self.options.items()}

    def default_alert(self) -> DefaultAlert | None:
        """The default alert's notifier, or None when no default alert is set."""
        if self.kind is None:
            return None
        secret = {"token": self.token} if self.token else None
        notifier = notifier_for(
            self.kind,
            address=self.url,
            channel=self.channel,
            username=self.username,
            proxy=self.proxy or None,
            secret=secret,
        )
        return DefaultAlert(notifier, self.kind, f"--{self.kind}-url")

    def event_webhook_sink(self) -> EventWebhook | None:
        """The sender of every Event to ``--event-webhook``, or None when it is not set."""
        return EventWebhook(self.event_webhook) if self.event_webhook else None

    def allowed_origins(self) -> list[str]:
        """``scheme://host:port`` of every URL set here, for a controller with an allow-list.

        Only the origin: the path of a hook URL is its token, and a proxy URL may hold a password.
        """
        origins = []
        for value in (self.url, self.proxy, self.event_webhook):
            if value:
                url = httpx.URL(value)
                port = url.port or {"http": 80, "https": 443}[url.scheme]
                origins.append(f"{url.scheme}://{url.host}:{port}")
        return origins


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _check_url(name: str, value: str) -> None:
    if not value:
        return
    refusal = static_refusal(value)
    if refusal is not None:  # the value may hold a token: name the flag, never the value
        raise ValueError(f"{_flag(name)}: {refusal}")
