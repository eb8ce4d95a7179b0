"""`gitcanary run`'s alert flags -> ControllerAlerts -> the operator (through the environment)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from controller.cli.main import run as run_command
from controller.notify import DiscordNotifier, MSTeamsNotifier, SlackNotifier
from controller.notify.settings import ENV, ControllerAlerts

HOOK = "https://hooks.slack.com/services/T0/B0/s3cr3t"
TEAMS = "https://example.webhook.office.com/webhookb2/t0ken"


def parsed(*args: str) -> dict[str, str | None]:
    """The alert options click hands to `run` for these arguments and the environment."""
    context = run_command.make_context("run", list(args))
    return {name: context.params[name] for name in ENV}


def test_flags_become_settings() -> None:
    options = parsed(
        f"--slack-url={HOOK}",
        "--slack-channel=deploys",
        "--slack-user=bot",
        "--slack-token=xoxb-1",
        "--slack-proxy-url=http://proxy.example:3128",
        "--cluster-name=prod-eu",
        "--event-webhook=https://events.example/gitcanary",
    )
    settings = ControllerAlerts.from_options(**options)
    assert (settings.kind, settings.url, settings.channel, settings.username) == (
        "slack",
        HOOK,
        "deploys",
        "bot",
    )
    assert (settings.token, settings.proxy) == ("xoxb-1", "http://proxy.example:3128")
    assert (settings.cluster_name, settings.event_webhook) == ("prod-eu", "https://events.example/gitcanary")
    default = settings.default_alert()
    assert default is not None and isinstance(default.notifier, SlackNotifier)
    assert (default.kind, default.flag) == ("slack", "--slack-url")
    assert settings.event_webhook_sink() is not None


def test_flaggers_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV.values():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MSTEAMS_URL", TEAMS)
    monkeypatch.setenv("EVENT_WEBHOOK_URL", "https://events.example/")
    settings = ControllerAlerts.from_options(**parsed())
    assert (settings.kind, settings.url, settings.event_webhook) == (
        "msteams",
        TEAMS,
        "https://events.example/",
    )
    monkeypatch.setenv("GITCANARY_MSTEAMS_URL", TEAMS + "-gitcanary")
    assert ControllerAlerts.from_options(**parsed()).url == TEAMS + "-gitcanary", "gitcanary's name wins"
    assert ControllerAlerts.from_options(**parsed(f"--msteams-url={TEAMS}x")).url == TEAMS + "x", "flag wins"


def test_settings_travel_through_the_environment_not_argv() -> None:
    settings = ControllerAlerts.from_options(slack_url=HOOK, slack_channel="c", cluster_name="prod")
    env = settings.env()
    assert env == {
        "GITCANARY_SLACK_URL": HOOK,
        "GITCANARY_SLACK_CHANNEL": "c",
        "GITCANARY_CLUSTER_NAME": "prod",
    }
    assert ControllerAlerts.from_env(env) == settings


def test_msteams_wins_over_slack_as_in_flagger() -> None:
    settings = ControllerAlerts.from_options(
        slack_url=HOOK, slack_channel="c", msteams_url=TEAMS, msteams_proxy_url="http://proxy:3128"
    )
    default = settings.default_alert()
    assert default is not None and isinstance(default.notifier, MSTeamsNotifier)
    assert (settings.kind, settings.proxy) == ("msteams", "http://proxy:3128")


def test_discord_default_uses_the_slack_user_and_a_default_channel() -> None:
    settings = ControllerAlerts.from_options(
        discord_url="https://discord.com/api/webhooks/1/t", slack_user="bot"
    )
    default = settings.default_alert()
    assert default is not None and isinstance(default.notifier, DiscordNotifier)
    assert (settings.username, settings.channel) == ("bot", "general")


def test_no_flags_no_default_alert_and_no_event_webhook() -> None:
    settings = ControllerAlerts.from_options(**parsed())
    assert settings.default_alert() is None and settings.event_webhook_sink() is None
    assert settings.env() == {} and settings.allowed_origins() == []


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"slack_url": HOOK}, "--slack-url needs --slack-channel"),
        ({"slack_proxy_url": "http://proxy:3128"}, "--slack-proxy-url needs --slack-url"),
        ({"discord_url": "https://d.example/x", "slack_url": HOOK}, "--discord-url cannot be combined"),
        ({"slack_url": "hooks.slack.com/services/s3cr3t", "slack_channel": "c"}, "--slack-url: URL scheme"),
        ({"event_webhook": "http://169.254.169.254/s3cr3t"}, "--event-webhook: address 169.254.169.254"),
        ({"msteams_url": "http://metadata.google.internal/s3cr3t"}, "--msteams-url: host metadata"),
    ],
)
def test_bad_settings_name_the_flag_never_the_value(options: dict[str, str], error: str) -> None:
    with pytest.raises(ValueError, match=error) as info:
        ControllerAlerts.from_options(**options)
    assert "s3cr3t" not in str(info.value)


def test_run_refuses_bad_alert_flags_before_starting() -> None:
    result = CliRunner().invoke(run_command, [f"--slack-url={HOOK}"], env={"GITCANARY_SLACK_CHANNEL": ""})
    assert result.exit_code == 2
    assert "--slack-url needs --slack-channel" in result.output
    assert "s3cr3t" not in result.output


def test_allow_list_admits_only_the_origins_of_the_platforms_urls() -> None:
    settings = ControllerAlerts.from_options(
        slack_url=HOOK,
        slack_channel="c",
        slack_proxy_url="http://user:pw@proxy.example:3128",
        event_webhook="http://events.example/hook",
    )
    assert settings.allowed_origins() == [
        "https://hooks.slack.com:443",
        "http://proxy.example:3128",
        "http://events.example:80",
    ]
