"""The ``gitcanary`` command line."""

from __future__ import annotations

from importlib import metadata

import click


class _Commands(click.Group):
    """The product's commands, plus development commands other packages register.

    A package adds commands through the ``gitcanary.commands`` entry point group (the
    development package ``gitcanary-sandbox`` adds ``sandbox`` and ``demo``). They are
    imported only when named, so ``gitcanary run`` never imports development code.
    """

    def _plugins(self) -> dict[str, metadata.EntryPoint]:
        return {
            ep.name: ep for ep in metadata.entry_points(group=PLUGIN_GROUP) if ep.name not in self.commands
        }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._plugins()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        plugin = self._plugins().get(cmd_name)
        if plugin is None:
            return None
        loaded = plugin.load()
        if not isinstance(loaded, click.Command):
            raise click.ClickException(f"entry point {plugin.value!r} is not a click command")
        return loaded


PLUGIN_GROUP = "gitcanary.commands"


def _alert_options(command: click.decorators.FC) -> click.decorators.FC:
    """Flagger's controller-wide alert flags (``controller.notify.settings``; docs/alerting.md).

    Each reads ``GITCANARY_<NAME>`` and, where Flagger has one, Flagger's variable (``SLACK_URL``):
    give URLs with tokens through the environment from a Secret, so ``ps`` never shows them.
    """
    from controller.notify.settings import ENV, FLAGGER_ENV

    helps = {
        "slack_url": "Default alert: Slack incoming webhook URL, for Canaries without analysis.alerts.",
        "slack_token": "Slack bot token (Authorization: Bearer), for the chat.postMessage API.",
        "slack_proxy_url": "HTTP(S) proxy for the Slack default alert.",
        "slack_user": "Username of the Slack or Discord default alert (default: gitcanary).",
        "slack_channel": "Channel of the Slack default alert (required with --slack-url) or Discord's.",
        "msteams_url": "Default alert: MS Teams incoming webhook URL (wins over --slack-url, as in Flagger).",
        "msteams_proxy_url": "HTTP(S) proxy for the MS Teams default alert.",
        "discord_url": "Default alert: Discord webhook URL (a gitcanary addition to Flagger's flags).",
        "discord_proxy_url": "HTTP(S) proxy for the Discord default alert.",
        "event_webhook": "POST every Event of every Canary here, as Flagger's event-webhook payload.",
        "cluster_name": "Cluster name, shown as the first field (Cluster) of every alert.",
    }
    for name in reversed(list(ENV)):
        names = [ENV[name], *([FLAGGER_ENV[name]] if name in FLAGGER_ENV else [])]
        flag = "--" + name.replace("_", "-")
        command = click.option(flag, name, envvar=names, default=None, help=helps[name])(command)
    return command


@click.group(cls=_Commands)
def main() -> None:
    """gitcanary: progressive delivery for Flux, with every outcome written back to Git."""


@main.command()
@click.option(
    "--kubeconfig", type=click.Path(exists=True), default=None, help="Default: in-cluster, then $KUBECONFIG."
)
@click.option("--namespace", "namespaces", multiple=True, help="Watch only these namespaces (default: all).")
@click.option(
    "--metrics-server",
    envvar="GITCANARY_METRICS_SERVER",
    default=None,
    help="Prometheus URL for built-in metrics and inline queries.",
)
@click.option(
    "--mesh-provider",
    envvar="GITCANARY_MESH_PROVIDER",
    default=None,
    help="Default router when a Canary sets no spec.provider (default: kubernetes).",
)
@click.option("--health", default="http://0.0.0.0:8080/healthz", show_default=True, help="Liveness endpoint.")
@click.option(
    "--metrics-addr",
    envvar="GITCANARY_METRICS_ADDR",
    default="0.0.0.0:8081",
    show_default=True,
    help="Where to serve the controller's Prometheus metrics (empty to disable).",
)
@click.option(
    "--max-concurrent-canaries",
    envvar="GITCANARY_MAX_CONCURRENT_CANARIES",
    type=click.IntRange(min=1),
    default=None,
    help="At most this many analyses at once; others wait in phase Waiting (default: no limit).",
)
@click.option(
    "--allow-cross-namespace-refs",
    envvar="GITCANARY_ALLOW_CROSS_NAMESPACE_REFS",
    is_flag=True,
    help="Canaries may use GitRepositories, Kustomizations, MetricTemplates and AlertProviders "
    "of other namespaces (default: own namespace only; see docs/security.md).",
)
@click.option(
    "--allow-file-remotes",
    envvar="GITCANARY_ALLOW_FILE_REMOTES",
    is_flag=True,
    help="Allow file:// and local-path Git remotes (sandboxes and tests only).",
)
@click.option(
    "--leader-elect",
    envvar="GITCANARY_LEADER_ELECT",
    is_flag=True,
    help="Run as one candidate of a Lease-based leader election (for more than one replica).",
)
@click.option(
    "--leader-election-namespace",
    envvar="GITCANARY_LEADER_ELECTION_NAMESPACE",
    default=None,
    help="Namespace of the Lease (default: the Pod's namespace, else gitcanary-system).",
)
@click.option(
    "--watch-label-selector",
    envvar="GITCANARY_WATCH_LABEL_SELECTOR",
    default="",
    help="Own only Canaries matching this label selector, e.g. sharding.fluxcd.io/key=shard1 "
    "or '!sharding.fluxcd.io/key' (Flux's sharding convention).",
)
@click.option(
    "--allowed-url",
    "allowed_urls",
    multiple=True,
    envvar="GITCANARY_ALLOWED_URLS",
    help="URL prefix or CIDR that tenant-supplied URLs (webhooks, metric servers) may reach; repeatable. "
    "Default: any address except link-local and cloud metadata, which are always refused.",
)
@_alert_options
@click.option("--verbose", is_flag=True)
def run(
    kubeconfig: str | None,
    namespaces: tuple[str, ...],
    metrics_server: str | None,
    mesh_provider: str | None,
    health: str,
    metrics_addr: str,
    max_concurrent_canaries: int | None,
    allow_cross_namespace_refs: bool,
    allow_file_remotes: bool,
    leader_elect: bool,
    leader_election_namespace: str | None,
    watch_label_selector: str,
    allowed_urls: tuple[str, ...],
    verbose: bool,
    **alerting: str | None,
) -> None:
    """Run the controller."""
    import asyncio
    import logging
    import os

    import kopf

    import controller.operator  # noqa: F401 - registers the handlers
    from controller import runtime, sharding
    from controller.notify.settings import ControllerAlerts
    from controller.url_policy import ALLOWED_URLS_ENV, UrlPolicy, allow_list_entries

    try:
        alerts = ControllerAlerts.from_options(**alerting)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    os.environ.update(alerts.env())  # the operator reads them there; argv is visible in ps

    if kubeconfig:
        os.environ["KUBECONFIG"] = kubeconfig
    if metrics_server:
        os.environ["GITCANARY_METRICS_SERVER"] = metrics_server
    if mesh_provider:
        os.environ["GITCANARY_MESH_PROVIDER"] = mesh_provider
    os.environ["GITCANARY_METRICS_ADDR"] = metrics_addr
    if max_concurrent_canaries:
        os.environ["GITCANARY_MAX_CONCURRENT_CANARIES"] = str(max_concurrent_canaries)
    if allow_cross_namespace_refs:
        os.environ["GITCANARY_ALLOW_CROSS_NAMESPACE_REFS"] = "1"
    if allow_file_remotes:
        os.environ["GITCANARY_ALLOW_FILE_REMOTES"] = "1"
    kopf.configure(verbose=verbose)
    logging.getLogger("httpx").setLevel(logging.DEBUG if verbose else logging.WARNING)
    try:
        sharding.parse(watch_label_selector)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--watch-label-selector") from None
    os.environ["GITCANARY_WATCH_LABEL_SELECTOR"] = watch_label_selector
    entries = allow_list_entries(allowed_urls, metrics_server)
    if entries:  # the platform's own alert endpoints pass an allow-list, as --metrics-server does
        entries += alerts.allowed_origins()
    try:
        UrlPolicy.from_entries(entries)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--allowed-url") from None
    os.environ[ALLOWED_URLS_ENV] = ",".join(entries)
    leader = None
    if leader_elect:
        leader = runtime.LeaderElection(leader_election_namespace or runtime.default_lease_namespace())
    asyncio.run(runtime.run_operator(list(namespaces), health, leader))


from controller.cli.gates import register as _register_gates  # noqa: E402 - needs `main`

_register_gates(main)


from controller.cli.tools import register as _register_tools  # noqa: E402

_register_tools(main)


from controller.cli.ops import register as _register_ops  # noqa: E402

_register_ops(main)


from controller.loadtester.cli import register as _register_loadtester  # noqa: E402

_register_loadtester(main)


if __name__ == "__main__":
    main()
