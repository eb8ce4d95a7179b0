"""Processes by command line, read from /proc (no procps: the tests run without ``ps``/``pgrep``)."""

from __future__ import annotations

import os
import signal
from pathlib import Path


def processes_mentioning(needle: str) -> list[int]:
    """Live (not zombie) PIDs whose command line contains ``needle``, this process excluded."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = next(
                line for line in (entry / "status").read_text().splitlines() if line.startswith("State:")
            )
        except (OSError, StopIteration):
            continue  # exited while we looked
        if needle in cmdline and "zombie" not in state:
            found.append(int(entry.name))
    return found


def kill_leftovers(needle: str) -> list[int]:
    """SIGKILL what a failed run left behind, so one failure cannot hang the session; return them."""
    left = processes_mentioning(needle)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue
    return left
