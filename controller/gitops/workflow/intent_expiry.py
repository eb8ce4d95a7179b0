"""Pending intents expire: ``status.gitops.pending`` cannot grow forever behind a dead remote.

A decision waits in ``status.gitops.pending`` until its commit is pushed. Behind a remote that
never comes back (deleted, credentials revoked, moved) the list would grow by one entry per
decision, forever, into an object the API server refuses (etcd's request limit is 1.5 MiB).
:func:`split_expired` bounds it, and the write-back worker applies it before any Git I/O:

- an intent pending for longer than ``ttl_s`` (default a day) expires;
- of the others, only the newest ``max_pending`` (default 50) stay pending: the older ones expire.

Expiring is never silent: the worker records one ``WriteBackExpired`` Warning Event per intent
and ``status.gitops.lastWriteBack`` with ``result: expired``. An expired decision stays taken in
the cluster (the route, the phase); only its Git commit is given up, and the Event says which.

Invariants: pure (``now`` is passed in); pending order is kept; an intent whose ``createdAt``
cannot be read never expires by age (it still counts toward ``max_pending``).
"""

from __future__ import annotations

import datetime as dt
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["DEFAULT_MAX_PENDING", "DEFAULT_TTL_S", "PendingLimits", "created_at", "describe", "split_expired"]

DEFAULT_TTL_S = 24 * 3600.0
DEFAULT_MAX_PENDING = 50


@dataclass(frozen=True)
class PendingLimits:
    ttl_s: float = DEFAULT_TTL_S
    max_pending: int = DEFAULT_MAX_PENDING

    @classmethod
    def from_env(cls) -> PendingLimits:
        """``GITCANARY_PENDING_INTENT_TTL`` (seconds) and ``GITCANARY_MAX_PENDING_INTENTS``; an
        unset, unparsable, non-finite or non-positive value keeps the default."""
        ttl = _positive(os.environ.get("GITCANARY_PENDING_INTENT_TTL"), DEFAULT_TTL_S)
        most = _positive(os.environ.get("GITCANARY_MAX_PENDING_INTENTS"), DEFAULT_MAX_PENDING)
        return cls(ttl_s=ttl, max_pending=max(1, int(most)))


def _positive(raw: str | None, default: float) -> float:
    try:
        value = float(raw) if raw else default
    except ValueError:
        return default
    return value if value > 0 and math.isfinite(value) else default


def created_at(entry: Mapping[str, Any]) -> float | None:
    """Unix time of a pending entry's ``createdAt`` (RFC 3339, UTC), None when unreadable."""
    raw = entry.get("createdAt")
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return float(raw) if math.isfinite(raw) else None
    if not isinstance(raw, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()


def split_expired(
    pending: Sequence[Mapping[str, Any]], now: float, limits: PendingLimits
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(still pending, expired), each in the order of ``pending`` (oldest first)."""
    fresh: list[dict[str, Any]] = []
    expired: list[dict[str, Any]] = []
    for entry in pending:
        created = created_at(entry)
        (expired if created is not None and now - created > limits.ttl_s else fresh).append(dict(entry))
    overflow = max(0, len(fresh) - limits.max_pending)
    if overflow:
        dropped = {id(entry) for entry in fresh[:overflow]}
        expired += fresh[:overflow]
        fresh = [entry for entry in fresh if id(entry) not in dropped]
    order = {str(entry.get("id")): index for index, entry in enumerate(pending)}
    expired.sort(key=lambda entry: order.get(str(entry.get("id")), 0))
    return fresh, expired


def describe(entry: Mapping[str, Any], now: float) -> str:
    """One line for the Event: which decision is given up, and after how long."""
    created = created_at(entry)
    age = f"after {(now - created) / 3600:.1f} h pending" if created is not None else "(age unknown)"
    what = f"{entry.get('result') or entry.get('kind')} {entry.get('previousImage') or '-'} -> {entry.get('image')}"
    return f"intent {entry.get('id')} ({what}) expired {age}: it will not be written to Git"
