"""Timestamps as Kubernetes writes them in status: RFC 3339 in UTC with second precision."""

from __future__ import annotations

import datetime as dt

__all__ = ["epoch", "epoch_or_none", "rfc3339"]

_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def rfc3339(timestamp: float) -> str:
    """``2024-05-01T12:00:00Z`` for a Unix timestamp."""
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime(_FORMAT)


def epoch(stamp: str | None) -> float:
    """The Unix timestamp of an :func:`rfc3339` stamp; 0.0 when there is none."""
    if not stamp:
        return 0.0
    return dt.datetime.strptime(stamp, _FORMAT).replace(tzinfo=dt.UTC).timestamp()


def epoch_or_none(stamp: str | None) -> float | None:
    """The Unix timestamp of any ISO 8601 stamp (UTC when it names no zone); None when there is
    none or it does not parse (a status field another writer filled)."""
    if not stamp:
        return None
    try:
        parsed = dt.datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)).timestamp()
