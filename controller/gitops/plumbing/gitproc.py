"""Run git (and the signing helpers) under one total deadline, in a process group of its own.

Every git command the controller runs goes through :func:`run_git`, and every other helper
(gpg, gpgconf) through :func:`run_process`.

Invariants:
- The child starts a new session (``start_new_session=True``), so it leads a process group
  holding every helper it spawns (``git-remote-http``, ``ssh``, ``index-pack``, gpg). When the
  deadline passes, the whole group gets ``SIGKILL`` through :func:`os.killpg` while the leader
  is not yet reaped (so the group id cannot have been reused), and then the leader is reaped.
  Nothing here needs ``ps`` or ``pgrep`` (procps is absent from python:3.11-slim, and
  GitPython's ``kill_after_timeout`` needs it to reach git's children).
- The deadline covers the whole call: start, all output read, exit. It is not a per-read
  timeout, so a remote that trickles bytes cannot stretch it.
- git's configuration is hermetic: ``GIT_CONFIG_GLOBAL=/dev/null`` and ``GIT_CONFIG_NOSYSTEM=1``
  (a file written into ``$HOME/.gitconfig`` or ``/etc/gitconfig`` changes nothing), no
  configuration or repository location inherited from the controller's environment
  (``GIT_CONFIG_PARAMETERS``, ``GIT_CONFIG_COUNT``, ``GIT_DIR``...), prompts off, and
  ``core.symlinks=false`` on every command. The caller's environment (credentials) is added
  before the hardening, so it cannot turn the hardening off.
- Paths and refs that come from users follow ``--`` (callers' duty; see
  :mod:`controller.gitops.plumbing.clone`).

A process that git detaches from its group on purpose (a gpg-agent daemon) is not killed
here; :class:`~controller.gitops.plumbing.credentials.CommitSigning` stops it with ``gpgconf``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from controller.errors import TemporaryError

__all__ = [
    "GIT_HARDENING_CONFIG",
    "GIT_HARDENING_ENV",
    "Completed",
    "ProcessTimeout",
    "git_environment",
    "run_git",
    "run_process",
]

GIT_HARDENING_ENV: Mapping[str, str] = {
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_TERMINAL_PROMPT": "0",
    "GCM_INTERACTIVE": "never",
}
"""Set last on every git environment."""

GIT_HARDENING_CONFIG: Sequence[tuple[str, str]] = (
    ("core.symlinks", "false"),
    ("core.attributesFile", "/dev/null"),
    ("core.excludesFile", "/dev/null"),
)
"""``-c`` settings on every git command: a committed symlink is checked out as a plain file, and
the per-user attributes and ignore files (``$XDG_CONFIG_HOME/git/{attributes,ignore}``, read even
without a global config) are not read."""

_INHERITED_GIT_VARIABLES = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_CONFIG",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
    "GIT_EXTERNAL_DIFF",
    "GIT_EXEC_PATH",
)
"""Dropped from the controller's environment: they would point git at another repository or
carry configuration past ``GIT_CONFIG_GLOBAL``."""

REAP_TIMEOUT_S = 5.0
"""After the group was killed: how long to wait for the pipes to close before closing them."""


class ProcessTimeout(TemporaryError):
    """The command did not finish before its deadline; its process group was killed."""

    def __init__(self, program: str, timeout_s: float) -> None:
        super().__init__(f"{program} timed out after {timeout_s:g}s")
        self.program = program
        self.timeout_s = timeout_s


@dataclass(frozen=True)
class Completed:
    """A finished command: exit status and its decoded output, each without one final newline."""

    status: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        """stdout, then stderr, joined by a newline (empty parts left out)."""
        return "\n".join(part for part in (self.stdout, self.stderr) if part)


def git_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The controller's environment minus git's location/config variables, plus ``extra``, plus
    the hardening (which wins)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in _INHERITED_GIT_VARIABLES
        and not key.startswith(("GIT_CONFIG_KEY_", "GIT_CONFIG_VALUE_"))
    }
    env.update(extra or {})
    env.update(GIT_HARDENING_ENV)
    return env


def run_git(
    args: Sequence[str],
    *,
    timeout_s: float,
    env: Mapping[str, str] | None = None,
    config: Sequence[tuple[str, str]] = (),
    cwd: Path | None = None,
) -> Completed:
    """``git -c core.symlinks=false [-c key=value]... <args>`` with :func:`git_environment`."""
    argv = ["git"]
    for key, value in (*GIT_HARDENING_CONFIG, *config):
        argv += ["-c", f"{key}={value}"]
    argv += args
    return run_process(argv, timeout_s=timeout_s, env=git_environment(env), cwd=cwd)


def run_process(
    argv: Sequence[str],
    *,
    timeout_s: float,
    env: Mapping[str, str],
    cwd: Path | None = None,
) -> Completed:
    """Run ``argv`` with no stdin; kill its whole process group when ``timeout_s`` passes.

    Raises :class:`ProcessTimeout` on timeout (nothing of the group is left running), and
    ``OSError`` when the program cannot be started.
    """
    if timeout_s <= 0:
        raise ProcessTimeout(Path(argv[0]).name, timeout_s)
    proc = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(env),
        cwd=cwd,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise ProcessTimeout(Path(argv[0]).name, timeout_s) from None
    except BaseException:
        _kill_group(proc)
        raise
    return Completed(
        status=proc.returncode,
        stdout=out.decode("utf-8", "surrogateescape").removesuffix("\n"),
        stderr=err.decode("utf-8", "replace").removesuffix("\n"),
    )


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the group led by ``proc`` (not reaped yet, so the id is still ours), then reap."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    try:
        proc.communicate(timeout=REAP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        # A member left the group (setsid) and still holds a pipe: stop reading, reap the leader.
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        proc.wait()
