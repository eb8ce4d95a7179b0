"""The bound on the clone cache: evict clones of repositories nobody wrote to for a while.

The write-back keeps one working clone per repository URL under the cache directory
(:func:`controller.gitops.plumbing.repo.clone_dir_for`), next to its lock file ``<clone>.lock``.
A controller that serves many repositories over months would keep every clone it ever made.
:func:`prune` bounds that: it runs at the start of every write-back session and removes

- every clone unused for longer than ``max_idle_s``;
- then, oldest first, the clones beyond the ``max_clones`` most recently used ones.

Invariants:
- "Used" is the modification time of ``<clone>.lock``, which :meth:`WorkingClone.locked` touches
  whenever it takes the lock.
- A clone used within :data:`MIN_IDLE_S` (longer than any write-back's total deadline) is never
  removed, whatever the count: a write-back that released its lock between two push attempts
  finds its clone again. So the cache holds at most ``max_clones`` clones plus those used in the
  last :data:`MIN_IDLE_S`.
- A clone is removed only while its lock is held (taken without waiting; a busy clone is
  skipped), so no git command ever runs in a clone being deleted. The empty lock file stays:
  removing it would let two processes lock two different files for the same clone.
- The clone being prepared (``keep``) is never removed; only directories named like a clone
  (16 hex digits) are considered; nothing raises: a clone that cannot be removed is left.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DEFAULT_MAX_CLONES", "DEFAULT_MAX_IDLE_S", "MIN_IDLE_S", "CacheLimits", "prune"]

log = logging.getLogger(__name__)

DEFAULT_MAX_CLONES = 32
DEFAULT_MAX_IDLE_S = 7 * 24 * 3600.0
MIN_IDLE_S = 600.0
_CLONE_NAME = re.compile(r"^[0-9a-f]{16}$")


@dataclass(frozen=True)
class CacheLimits:
    max_clones: int = DEFAULT_MAX_CLONES
    max_idle_s: float = DEFAULT_MAX_IDLE_S

    @classmethod
    def from_env(cls) -> CacheLimits:
        """``GITCANARY_GIT_CACHE_MAX_CLONES`` and ``GITCANARY_GIT_CACHE_MAX_IDLE`` (seconds);
        an unset, unparsable, non-finite or non-positive value keeps the default."""
        clones = _positive(os.environ.get("GITCANARY_GIT_CACHE_MAX_CLONES"), DEFAULT_MAX_CLONES)
        idle = _positive(os.environ.get("GITCANARY_GIT_CACHE_MAX_IDLE"), DEFAULT_MAX_IDLE_S)
        return cls(max_clones=int(clones), max_idle_s=idle)


def _positive(raw: str | None, default: float) -> float:
    try:
        value = float(raw) if raw else default
    except ValueError:
        return default
    return value if value > 0 and value != float("inf") else default


def _last_used(clone: Path) -> float:
    lock = clone.with_name(clone.name + ".lock")
    try:
        return lock.stat().st_mtime
    except OSError:
        try:
            return clone.stat().st_mtime
        except OSError:
            return 0.0


def _remove_if_free(clone: Path) -> bool:
    lock = clone.with_name(clone.name + ".lock")
    try:
        with open(lock, "a+b") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            try:
                shutil.rmtree(clone)
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
    except OSError as exc:
        log.warning("clone cache: could not remove %s: %s", clone, exc)
        return False
    return True


def prune(cache_dir: Path, keep: Path, limits: CacheLimits, now: float | None = None) -> list[Path]:
    """Remove the clones beyond ``limits`` (see the module docstring); return those removed."""
    now = time.time() if now is None else now
    try:
        entries = [p for p in cache_dir.iterdir() if _CLONE_NAME.match(p.name) and p.is_dir()]
    except OSError:
        return []
    clones = sorted(
        ((_last_used(p), p) for p in entries if p.resolve() != keep.resolve()),
        key=lambda item: item[0],
        reverse=True,
    )
    # ``keep`` counts as the most recently used clone.
    room = max(0, limits.max_clones - 1)
    removed: list[Path] = []
    for rank, (used, clone) in enumerate(clones):
        idle = now - used
        if idle < MIN_IDLE_S:
            continue
        if (idle > limits.max_idle_s or rank >= room) and _remove_if_free(clone):
            removed.append(clone)
    return removed
