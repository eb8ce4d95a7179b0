"""The alert port: a one-method ``Notifier`` Protocol, alert fields and severities.

``should_send`` implements the documented AlertProvider severity filter: an alert with
severity ``info`` receives every event, ``warn`` receives warnings and errors, ``error``
receives errors only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal, Protocol, runtime_checkable

from controller.errors import BestEffortError

__all__ = ["DEFAULT_NOTIFY_TIMEOUT", "Field", "Notifier", "NotifyError", "Severity", "should_send"]

Severity = Literal["info", "warn", "error"]

DEFAULT_NOTIFY_TIMEOUT: Final = 5.0
"""Seconds allowed for one alert POST in total, not per read (Flagger uses 5s)."""

_RANK: Final[dict[str, int]] = {"info": 0, "warn": 1, "error": 2}


class NotifyError(BestEffortError):
    """An alert could not be delivered (best-effort: an Event, never an aborted decision).

    The message never contains the hook address."""


@dataclass(frozen=True)
class Field:
    """A name/value pair shown with the alert (Flagger's ``notifier.Field``)."""

    name: str
    value: str


@runtime_checkable
class Notifier(Protocol):
    """Posts one alert message to a chat or webhook endpoint."""

    async def post(
        self,
        workload: str,
        namespace: str,
        message: str,
        fields: Sequence[Field],
        severity: Severity,
    ) -> None:
        """Deliver the alert; raise ``NotifyError`` on failure."""
        ...


def should_send(alert_severity: Severity, event_severity: Severity) -> bool:
    """True when an alert configured with ``alert_severity`` receives this event."""
    return _RANK[event_severity] >= _RANK[alert_severity]
