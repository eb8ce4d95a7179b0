"""The ``gitcanary loadtester`` command: serve the Flagger-compatible load tester."""

from __future__ import annotations

import asyncio
import logging
import re
import signal
from pathlib import Path

import click
from aiohttp import web

from controller.api.duration import parse_duration
from controller.loadtester.gates import GateStateError, GateStore
from controller.loadtester.server import build_app
from controller.loadtester.tasks import TaskRunner, TaskSettings

__all__ = ["loadtester", "register", "serve"]

log = logging.getLogger(__name__)


def _duration(_ctx: click.Context, _param: click.Parameter, value: str) -> float:
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    if seconds <= 0:
        raise click.BadParameter("must be positive")
    return seconds


def _regexp(_ctx: click.Context, _param: click.Parameter, value: str | None) -> re.Pattern[str] | None:
    if not value:
        return None
    try:
        return re.compile(value)
    except re.error as exc:
        raise click.BadParameter(str(exc)) from exc


async def serve(host: str, port: int, app: web.Application, stop: asyncio.Event) -> None:
    """Serve ``app`` until ``stop`` is set, then close it (which stops the running tasks)."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        log.info("load tester listening on %s:%d", host, port)
        await stop.wait()
    finally:
        await runner.cleanup()


async def _main(host: str, port: int, app: web.Application) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await serve(host, port, app, stop)


@click.command()
@click.option("--host", default="0.0.0.0", show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8080, show_default=True, help="Port to listen on."
)
@click.option(
    "--state-dir",
    envvar="GITCANARY_LOADTESTER_STATE_DIR",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory of the gate state (gates.json), kept across restarts.",
)
@click.option(
    "--timeout",
    default="1h",
    show_default=True,
    callback=_duration,
    help="Longest run of one task (Go duration); a payload's metadata.timeout may only shorten it.",
)
@click.option(
    "--max-output",
    type=click.IntRange(min=1),
    default=1024 * 1024,
    show_default=True,
    help="Bytes of a task's output kept (the rest is dropped).",
)
@click.option(
    "--allow-command",
    "allowed",
    multiple=True,
    help="Program a task may run (repeatable; bash, helm and kubectl count). Default: any.",
)
@click.option(
    "--namespace-regexp",
    default=None,
    callback=_regexp,
    help="Answer only payloads whose namespace matches (403 otherwise), as Flagger's -namespace-regexp.",
)
@click.option(
    "--cmd-shell",
    is_flag=True,
    help="Run type cmd through sh -c, as Flagger does (default: no shell; shell syntax is refused).",
)
@click.option("--verbose", is_flag=True, help="Debug logging.")
def loadtester(
    host: str,
    port: int,
    state_dir: Path,
    timeout: float,
    max_output: int,
    allowed: tuple[str, ...],
    namespace_regexp: re.Pattern[str] | None,
    cmd_shell: bool,
    verbose: bool,
) -> None:
    """Serve a load tester that Flagger load tester webhooks call unchanged."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    try:
        gates = GateStore(state_dir)
    except GateStateError as exc:
        raise click.ClickException(str(exc)) from exc
    settings = TaskSettings(
        timeout=timeout, max_output=max_output, allowed_programs=frozenset(allowed), cmd_shell=cmd_shell
    )
    app = build_app(gates, TaskRunner(settings), namespace_regexp)
    asyncio.run(_main(host, port, app))


def register(group: click.Group) -> None:
    """Add ``loadtester`` to the ``gitcanary`` command group."""
    group.add_command(loadtester)
