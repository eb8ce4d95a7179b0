"""Development commands the ``gitcanary`` CLI loads from this package (entry points).

``gitcanary sandbox up|down|status`` and ``gitcanary demo`` are registered under the
``gitcanary.commands`` entry point group by this package's pyproject.toml; the product's
wheel and image do not contain them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from gitcanary_sandbox import environment


@click.group()
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


@click.command()
@click.option("--keep", is_flag=True, help="Leave the sandbox running afterwards.")
@_dir_option
def demo(keep: bool, base: Path | None) -> None:
    """Run the built-in demo on a local sandbox."""
    from gitcanary_sandbox.demo import run_demo

    sys.exit(run_demo(base, keep=keep))
