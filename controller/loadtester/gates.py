"""Manual gates of the load tester, kept in a JSON file so they survive restarts.

Invariants:
- A gate is closed until opened (Flagger's ``GateStorage.isOpen`` answers false for a new key).
- Keys are Flagger's: ``<name>.<namespace>`` for a gate, ``rollback.<name>.<namespace>`` for a
  rollback gate.
- Every change is written before the request is answered, atomically: a temporary file in the
  same directory, flushed and fsynced, then renamed over ``gates.json``. A crash leaves the old
  file or the new one, never half of one.
- A state file that is not a JSON object of booleans refuses to load (``GateStateError``) rather
  than silently opening or closing gates.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from pathlib import Path

__all__ = ["STATE_FILE", "GateStateError", "GateStore", "gate_key", "rollback_key"]

STATE_FILE = "gates.json"


class GateStateError(Exception):
    """The state file exists but does not hold gate state."""


def gate_key(name: str, namespace: str) -> str:
    return f"{name}.{namespace}"


def rollback_key(name: str, namespace: str) -> str:
    return f"rollback.{name}.{namespace}"


class GateStore:
    """Open/closed state per key, persisted under ``state_dir``."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / STATE_FILE
        self._state_dir = state_dir
        self._gates: dict[str, bool] = self._load()
        self._lock = asyncio.Lock()

    def _load(self) -> dict[str, bool]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        try:
            loaded = json.loads(text)
        except ValueError as exc:
            raise GateStateError(f"{self.path} is not JSON: {exc}") from exc
        if not isinstance(loaded, dict) or not all(
            isinstance(k, str) and isinstance(v, bool) for k, v in loaded.items()
        ):
            raise GateStateError(f"{self.path} must hold a JSON object of booleans")
        return dict(loaded)

    def is_open(self, key: str) -> bool:
        return self._gates.get(key, False)

    async def set(self, key: str, is_open: bool) -> None:
        async with self._lock:
            self._gates[key] = is_open
            snapshot = dict(self._gates)
            await asyncio.get_running_loop().run_in_executor(None, self._write, snapshot)

    def _write(self, gates: dict[str, bool]) -> None:
        self._state_dir.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=".gates-", suffix=".tmp", dir=self._state_dir)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(gates, handle, sort_keys=True)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        directory = os.open(self._state_dir, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
