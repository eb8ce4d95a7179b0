"""The load tester's task types (Flagger's ``metadata.type``) and the background ``cmd`` runner.

Invariants:
- ``type`` defaults to ``cmd``. ``cmd`` splits its command line as a POSIX shell would
  (``shlex``) and runs the program without a shell; a line that needs one (an operator such as
  ``|``, ``;`` or ``&&``, a ``$`` or backtick expansion, several lines) is refused with 400
  rather than run mangled. With ``--cmd-shell`` it runs ``sh -c <cmd>``, as Flagger does (the
  allow-list then sees the program ``sh``). ``bash`` runs ``bash -c <cmd>``;
  ``helm``/``helmv3`` run ``helm`` and ``kubectl`` runs ``kubectl`` from PATH with the command
  split on whitespace (Go's ``strings.Fields``, as Flagger does).
- Every run has a deadline: the payload's ``metadata.timeout`` (a Go duration) when given, never
  more than the server's ``--timeout``.
- With an allow-list, only the programs it names run (``bash``, ``helm`` and ``kubectl`` count
  as programs); a refused task is answered 403 and never started.
- ``cmd`` tasks run in the background (Flagger answers 202 at once); a task whose canary and
  command are already running is skipped, as Flagger's runner skips it.
- A ``cmd`` task whose program is ``hey`` runs the built-in load generator (``loadgen``) when no
  ``hey`` binary is on PATH; the allow-list and ``--cmd-shell`` decide exactly as for the binary
  (with ``--cmd-shell`` the line must then be a plain ``hey ...`` line without shell syntax).
- Commands are not logged (a ``hey -H 'Authorization: ...'`` line carries a credential); the
  program name and the canary are, and the output only with ``logCmdOutput: "true"``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import shutil
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

from controller.api.duration import parse_duration
from controller.loadtester.commands import CommandResult, run_command
from controller.loadtester.loadgen import run_hey

__all__ = [
    "BACKGROUND_TYPE",
    "FOREGROUND_TYPES",
    "Task",
    "TaskError",
    "TaskRunner",
    "TaskSettings",
    "build_task",
    "needs_shell",
    "parse_bool",
]

log = logging.getLogger(__name__)

BACKGROUND_TYPE = "cmd"
FOREGROUND_TYPES = frozenset({"bash", "helm", "helmv3", "kubectl"})
# How many finished ``cmd`` results the runner remembers (for /metrics and inspection).
REMEMBERED_RESULTS = 256
_TRUE = {"1", "t", "T", "TRUE", "true", "True"}


class TaskError(Exception):
    """A payload that names no runnable task; ``status`` is the HTTP answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class TaskSettings:
    """Server-wide limits: the longest deadline, the output cap, the allowed programs."""

    timeout: float = 3600.0
    max_output: int = 1024 * 1024
    allowed_programs: frozenset[str] = frozenset()
    cmd_shell: bool = False


@dataclass(frozen=True)
class Task:
    canary: str
    type: str
    command: str
    argv: tuple[str, ...]
    deadline: float
    log_output: bool
    # The hey arguments the built-in load generator runs instead of a hey binary.
    builtin_hey: tuple[str, ...] | None = None

    @property
    def key(self) -> str:
        return f"{self.canary}\x00{self.command}"

    @property
    def program(self) -> str:
        return os.path.basename(self.argv[0])


def parse_bool(text: str | None) -> bool:
    """Go's ``strconv.ParseBool``; anything else is false, as Flagger ignores the error."""
    return text in _TRUE


def needs_shell(command: str) -> bool:
    """Whether ``command`` uses shell syntax that running it without a shell would mangle."""
    if "\n" in command.strip() or "$" in command or "`" in command:
        return True
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    return any(token and set(token) <= set(lexer.punctuation_chars) for token in lexer)


def _cmd_argv(command: str, settings: TaskSettings) -> tuple[str, ...]:
    if settings.cmd_shell:
        return ("sh", "-c", command)
    try:
        if needs_shell(command):
            raise TaskError(
                400,
                "cmd uses shell syntax and the load tester runs cmd without a shell: "
                "use type: bash, or start it with --cmd-shell (Flagger's sh -c)",
            )
        return tuple(shlex.split(command))
    except ValueError as exc:
        raise TaskError(400, f"cannot split the command: {exc}") from exc


def _builtin_hey(command: str, argv: tuple[str, ...]) -> tuple[str, ...] | None:
    """The hey arguments when ``argv`` runs hey and no hey binary is on PATH."""
    words = argv
    if argv[:2] == ("sh", "-c"):
        if needs_shell(command):
            return None
        try:
            words = tuple(shlex.split(command))
        except ValueError:
            return None
    if not words or os.path.basename(words[0]) != "hey" or shutil.which(words[0]) is not None:
        return None
    return words[1:]


def _argv(kind: str, command: str, settings: TaskSettings) -> tuple[str, ...]:
    if kind == BACKGROUND_TYPE:
        return _cmd_argv(command, settings)
    if kind == "bash":
        return ("bash", "-c", command)
    if kind in ("helm", "helmv3"):
        return ("helm", *command.split())
    return ("kubectl", *command.split())


def build_task(canary: str, metadata: Mapping[str, str], settings: TaskSettings) -> Task:
    """The task a payload's metadata asks for; ``TaskError`` when there is none to run."""
    kind = metadata.get("type", BACKGROUND_TYPE)
    if kind != BACKGROUND_TYPE and kind not in FOREGROUND_TYPES:
        raise TaskError(400, f"unknown task type {kind}")
    command = metadata.get("cmd")
    if command is None:
        raise TaskError(400, "cmd not found in metadata")
    argv = _argv(kind, command, settings)
    if not argv:
        raise TaskError(400, "cmd is empty")
    deadline = settings.timeout
    if "timeout" in metadata:
        try:
            asked = parse_duration(metadata["timeout"])
        except ValueError as exc:
            raise TaskError(400, f"metadata.timeout: {exc}") from exc
        if asked <= 0:
            raise TaskError(400, "metadata.timeout must be positive")
        deadline = min(asked, settings.timeout)
    log_output = kind in FOREGROUND_TYPES or parse_bool(metadata.get("logCmdOutput"))
    builtin = _builtin_hey(command, argv) if kind == BACKGROUND_TYPE else None
    task = Task(canary, kind, command, argv, deadline, log_output, builtin)
    if settings.allowed_programs and task.program not in settings.allowed_programs:
        raise TaskError(403, f"program {task.program!r} is not in the load tester's allow-list")
    return task


async def run_task(task: Task, settings: TaskSettings) -> CommandResult:
    """Run one task to its end and log how it ended."""
    log.info("%s: %s task %s starting", task.canary, task.type, task.program)
    if task.builtin_hey is not None:
        result = await _run_builtin(task.builtin_hey, task.deadline, settings.max_output)
    else:
        result = await run_command(task.argv, task.deadline, settings.max_output)
    level = logging.INFO if result.ok else logging.ERROR
    log.log(level, "%s: %s task %s finished: %s", task.canary, task.type, task.program, result.describe())
    if task.log_output and result.output:
        log.info("%s: %s output:\n%s", task.canary, task.program, result.output.decode("utf-8", "replace"))
    return result


async def _run_builtin(args: tuple[str, ...], deadline: float, max_output: int) -> CommandResult:
    """The built-in generator as a command: its exit code and hey's summary as the output."""
    try:
        code, text = await asyncio.wait_for(run_hey(args, deadline), timeout=deadline + 1.0)
    except TimeoutError:
        return CommandResult(None, b"", timed_out=True)
    output = text.encode()
    return CommandResult(code, output[:max_output], truncated=len(output) > max_output)


class TaskRunner:
    """Runs ``cmd`` tasks in the background, one at a time per (canary, command)."""

    def __init__(self, settings: TaskSettings) -> None:
        self.settings = settings
        self.total_execs = 0
        self._running: dict[str, asyncio.Task[CommandResult]] = {}
        self._results: OrderedDict[str, CommandResult] = OrderedDict()

    def add(self, task: Task) -> bool:
        """Start ``task`` unless the same one is running; True when it started."""
        if task.key in self._running:
            log.info("%s: %s task %s skipped: already running", task.canary, task.type, task.program)
            return False
        self.total_execs += 1
        running = asyncio.create_task(run_task(task, self.settings), name=f"loadtester {task.canary}")
        self._running[task.key] = running
        running.add_done_callback(lambda done: self._finished(task.key, done))
        return True

    def _finished(self, key: str, done: asyncio.Task[CommandResult]) -> None:
        self._running.pop(key, None)
        if done.cancelled():
            return
        error = done.exception()
        if error is not None:
            log.error("load tester task failed: %s", error)
            return
        self._results[key] = done.result()
        self._results.move_to_end(key)
        while len(self._results) > REMEMBERED_RESULTS:
            self._results.popitem(last=False)

    def running(self, canary: str, command: str) -> asyncio.Task[CommandResult] | None:
        return self._running.get(f"{canary}\x00{command}")

    def last_result(self, canary: str, command: str) -> CommandResult | None:
        return self._results.get(f"{canary}\x00{command}")

    async def close(self) -> None:
        """Cancel what runs (each cancellation kills its process group) and wait for it."""
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
