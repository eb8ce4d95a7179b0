"""One bounded run of a program: a total deadline, a killed process group, a capped capture.

Invariants:
- The program runs without a shell (argv as given), stdin is /dev/null, stderr goes to stdout
  (Flagger captures ``CombinedOutput``).
- It runs in its own session, so it leads a new process group. When the deadline passes, the
  whole group gets SIGKILL (a ``sh -c 'sleep 100 & wait'`` leaves no sleep behind), and so does
  anything of the group still alive when the program itself exits, or when the caller is
  cancelled.
- At most ``max_output`` bytes of output are kept; the rest is read and dropped (the program
  never blocks on a full pipe), and the result says it was truncated.
- A program that cannot start (not found, not executable) is a failed result, not an exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["CHUNK_BYTES", "DRAIN_SECONDS", "POLL_SECONDS", "CommandResult", "run_command"]

CHUNK_BYTES = 64 * 1024
# After the group is killed, how long the rest of the output may take to arrive.
DRAIN_SECONDS = 1.0
# How often the exit of the program is checked.
POLL_SECONDS = 0.02


@dataclass(frozen=True)
class CommandResult:
    """How a run ended. ``exit_code`` is None when the program did not start or was killed."""

    exit_code: int | None
    output: bytes
    truncated: bool = False
    timed_out: bool = False
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    def describe(self) -> str:
        """One line for logs and failure answers (never the output)."""
        if self.error is not None:
            return self.error
        if self.timed_out:
            return "killed at its deadline"
        return f"exit code {self.exit_code}"


async def _exited(process: asyncio.subprocess.Process) -> None:
    """Until the program itself exits. ``Process.wait()`` would also wait for every holder of its
    output pipe to close it, which a background child can delay past any deadline."""
    while process.returncode is None:
        await asyncio.sleep(POLL_SECONDS)


def _kill_group(pgid: int) -> None:
    # ProcessLookupError: the group is already empty, nothing is left to kill.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


async def run_command(argv: Sequence[str], deadline: float, max_output: int) -> CommandResult:
    """Run ``argv`` for at most ``deadline`` seconds, keeping at most ``max_output`` bytes."""
    if not argv:
        return CommandResult(None, b"", error="empty command")
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        return CommandResult(None, b"", error=f"cannot start {argv[0]!r}: {exc.strerror or exc}")
    assert process.stdout is not None
    stdout = process.stdout
    kept = bytearray()
    truncated = False

    async def capture() -> None:
        nonlocal truncated
        while chunk := await stdout.read(CHUNK_BYTES):
            room = max_output - len(kept)
            if len(chunk) > room:
                truncated = True
            kept.extend(chunk[: max(room, 0)])

    reader = asyncio.create_task(capture())
    ends_at = time.monotonic() + deadline
    timed_out = False
    try:
        try:
            await asyncio.wait_for(_exited(process), timeout=deadline)
        except TimeoutError:
            timed_out = True
        # Whatever the program left running (or the program, at its deadline) is killed now.
        _kill_group(process.pid)
        await asyncio.wait_for(_exited(process), timeout=DRAIN_SECONDS)
        try:
            await asyncio.wait_for(reader, timeout=max(ends_at - time.monotonic(), DRAIN_SECONDS))
        except TimeoutError:
            # A process that left the group (setsid) still holds the pipe: keep what was read.
            truncated = True
    finally:
        reader.cancel()
        _kill_group(process.pid)
    if timed_out:
        return CommandResult(None, bytes(kept), truncated=truncated, timed_out=True)
    return CommandResult(process.returncode, bytes(kept), truncated=truncated)
