"""Go ``time.Duration`` parsing and formatting, as used in Flagger specs and messages.

Flagger writes intervals and timeouts as Go durations (``30s``, ``1m``, ``1h30m``) and
prints durations in events with Go's ``Duration.String`` (``500ms``, ``1.2s``, ``1m30s``).
Parsing is :func:`controller.api.duration.parse_duration` (Go's grammar); formatting is here.
"""

from __future__ import annotations

import math

from controller.api.duration import parse_duration
from controller.metrics.errors import ProviderConfigError

__all__ = ["format_go_duration_ms", "format_go_float", "interval_seconds"]


def interval_seconds(interval: str) -> float:
    """A metric interval (a Go duration) in seconds; ``ProviderConfigError`` when it is not one."""
    try:
        return parse_duration(interval)
    except ValueError as exc:
        raise ProviderConfigError(f"error parsing metric interval: {exc}") from None


def format_go_duration_ms(milliseconds: int) -> str:
    """Format a whole number of milliseconds the way Go's ``Duration.String`` does."""
    if milliseconds == 0:
        return "0s"
    sign = "-" if milliseconds < 0 else ""
    ms = abs(milliseconds)
    if ms < 1000:
        return f"{sign}{ms}ms"
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    sec_text = str(seconds) if millis == 0 else f"{seconds}.{millis:03d}".rstrip("0")
    if hours:
        return f"{sign}{hours}h{minutes}m{sec_text}s"
    if minutes:
        return f"{sign}{minutes}m{sec_text}s"
    return f"{sign}{sec_text}s"


def format_go_float(value: float) -> str:
    """Format a float like Go's ``%v`` verb: ``99`` for 99.0, ``99.5`` for 99.5."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e21:
        return str(int(value))
    return repr(value)
