"""The ``gitcanary`` command line."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from controller.sandbox import environment


@click.group()
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
) -> None:
    """Run the controller."""
    import asyncio
    import logging
    import os

    import kopf

    import controller.operator  # noqa: F401 - registers the handlers
    from controller import runtime, sharding
    from controller.outbound import ALLOWED_URLS_ENV, UrlPolicy, allow_list_entries

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
    try:
        UrlPolicy.from_entries(entries)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--allowed-url") from None
    os.environ[ALLOWED_URLS_ENV] = ",".join(entries)
    leader = None
    if leader_elect:
        leader = runtime.LeaderElection(leader_election_namespace or runtime.default_lease_namespace())
    asyncio.run(runtime.run_operator(list(namespaces), health, leader))


@main.group()
def sandbox() -> None:
    """A local environment: control plane, fake nodes, Prometheus and git remotes."""


_dir_option = click.option(
    "--dir",
    "base",
    type=click.Path(path_type=Path),
    default=None,
    help="Where the sandbox keeps its state (default: $GITCANARY_SANDBOX_DIR or ~/.cache/gitcanary/sandbox).",
)


@sandbox.command("up")
@_dir_option
@click.option("--with-flux", is_flag=True, help="Also start the OCI registry and real Flux controllers.")
def sandbox_up(base: Path | None, with_flux: bool) -> None:
    """Start every part (idempotent) and print KEY=value lines to use it."""
    state = environment.up(base, with_flux=with_flux)
    for line in environment.describe(state):
        click.echo(line)
    failed = {k: v for k, v in state.parts.items() if v != "ok"}
    for part, reason in failed.items():
        click.echo(f"FAILED {part}: {reason}", err=True)
    sys.exit(1 if failed else 0)


@sandbox.command("down")
@_dir_option
def sandbox_down(base: Path | None) -> None:
    """Stop every part. Data stays on disk for the next `up`."""
    environment.down(base)


@sandbox.command("status")
@_dir_option
def sandbox_status(base: Path | None) -> None:
    """Report each part."""
    report = environment.status(base)
    width = max(len(k) for k in report)
    for name, value in report.items():
        click.echo(f"{name.ljust(width)}  {value}")
    sys.exit(0 if all(v.startswith("running") for v in report.values()) else 3)


@main.command()
@click.option("--keep", is_flag=True, help="Leave the sandbox running afterwards.")
@_dir_option
def demo(keep: bool, base: Path | None) -> None:
    """Run the built-in demo on a local sandbox."""
    from controller.demo import run_demo

    sys.exit(run_demo(base, keep=keep))


from controller.cli_gates import register as _register_gates  # noqa: E402 - needs `main`

_register_gates(main)


from controller.cli_tools import register as _register_tools  # noqa: E402

_register_tools(main)


from controller.cli_ops import register as _register_ops  # noqa: E402

_register_ops(main)


if __name__ == "__main__":
    main()
