"""Go ``time.Duration`` parsing and formatting, as used in Flagger specs and messages.

Flagger writes intervals and timeouts as Go durations (``30s``, ``1m``, ``1h30m``) and
prints durations in events with Go's ``Duration.String`` (``500ms``, ``1.2s``, ``1m30s``).
Both directions are pure functions; parsing rejects anything Go would reject, except
that a bare ``0`` is accepted as Go does.
"""

from __future__ import annotations

import math
import re

__all__ = ["format_go_duration_ms", "format_go_float", "parse_go_duration"]

_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_go_duration(text: str) -> float:
    """Return the number of seconds in a Go duration string such as ``1m30s``.

    Raises ``ValueError`` naming the input when it is not a valid Go duration.
    """
    raw = text.strip()
    sign = 1.0
    body = raw
    if body[:1] in "+-" and body:
        sign = -1.0 if body[0] == "-" else 1.0
        body = body[1:]
    if body == "0":
        return 0.0
    if not body:
        raise ValueError(f"invalid duration {text!r}")
    total = 0.0
    position = 0
    for match in _PART.finditer(body):
        if match.start() != position:
            raise ValueError(f"invalid duration {text!r}")
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if position != len(body):
        raise ValueError(f"invalid duration {text!r}")
    return sign * total


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
