"""What one tick has read, and what the watches deliver: the stores ``controller.kube`` answers
GETs from (its module docstring says when).

- ``shared_reads()``: within the block (one task and the tasks it starts while it lasts), each
  object is read once; any write but an Event's makes every object read again.
- ``WatchStore``: objects as a watch (or a GET, or one of our writes) last delivered them, only
  ever replaced by a newer resourceVersion, served while seen within ``WATCH_FRESH_S``.
Both keep JSON text: every reader parses its own copy.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

Obj = dict[str, Any]


class _Reads:
    """The objects read inside one ``shared_reads`` block; closed when the block ends, so a task
    it started (which inherits the context) reads from the API server again."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str | None, str], str] = {}
        """Each object as JSON text (``null``: not found); a reader gets its own parsed copy."""
        self.open = True
        self.writes = 0


_READS: ContextVar[_Reads | None] = ContextVar("gitcanary_shared_reads", default=None)


@contextlib.contextmanager
def shared_reads() -> Iterator[None]:
    """Within the block, a GET answers from an earlier GET of the same object, until a write."""
    reads = _Reads()
    token = _READS.set(reads)
    try:
        yield
    finally:
        reads.open = False
        reads.objects.clear()
        _READS.reset(token)


def current_reads() -> _Reads | None:
    reads = _READS.get()
    return reads if reads is not None and reads.open else None


def note_write(kind: str) -> None:
    """A write: objects read before it are read again (an Event changes no object read)."""
    reads = current_reads()
    if reads is not None and kind != "Event":
        reads.objects.clear()
        reads.writes += 1


WATCH_FRESH_S = 60.0
"""How long a stored object answers GETs without being refreshed (a watch that silently broke
delays what the controller sees by at most this much; it never serves an object older than our
own last write to it)."""
WATCH_MAX_OBJECTS = 20_000

Key = tuple[str, str, str | None, str]


def _version(obj: Obj) -> int:
    version = str((obj.get("metadata") or {}).get("resourceVersion") or "")
    return int(version) if version.isdigit() else -1


class WatchStore:
    """Objects as last seen, by (apiVersion, kind, namespace, name), with when each was seen."""

    def __init__(self, kinds: set[tuple[str, str]], limit: int = WATCH_MAX_OBJECTS) -> None:
        self.kinds = kinds
        self.limit = limit
        self.objects: dict[Key, tuple[str, int, float]] = {}
        """JSON text (a reader gets its own parsed copy), resourceVersion, when it was seen."""

    def put(self, obj: Obj) -> None:
        meta = obj.get("metadata") or {}
        key = (str(obj.get("apiVersion")), str(obj.get("kind")), meta.get("namespace"), str(meta.get("name")))
        version = _version(obj)
        if key[:2] not in self.kinds or version < 0:
            return
        held = self.objects.get(key)
        if held is not None and held[1] > version:
            return  # a late event: the store already holds a newer version
        self.objects.pop(key, None)
        self.objects[key] = (json.dumps(obj), version, time.monotonic())
        while len(self.objects) > self.limit:
            self.objects.pop(next(iter(self.objects)))

    def forget(self, key: Key) -> None:
        self.objects.pop(key, None)

    def holds(self, obj: Obj) -> bool:
        """Whether this object is held at its resourceVersion or a newer one (a GET or a write of
        ours already brought it: the tick that made them has seen it)."""
        meta = obj.get("metadata") or {}
        key = (str(obj.get("apiVersion")), str(obj.get("kind")), meta.get("namespace"), str(meta.get("name")))
        held = self.objects.get(key)
        version = _version(obj)
        return held is not None and version >= 0 and held[1] >= version

    def fresh(self, key: Key) -> str | None:
        """The object's JSON text, if it was seen within ``WATCH_FRESH_S``."""
        held = self.objects.get(key)
        if held is None or time.monotonic() - held[2] > WATCH_FRESH_S:
            return None
        return held[0]
