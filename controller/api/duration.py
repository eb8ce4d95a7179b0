"""Go duration strings ("1m30s", "500ms", "24h"), as Flagger and Flux write them.

Invariants:
- The grammar is Go's `time.ParseDuration`: an optional sign, then one or more
  `<decimal number><unit>` pairs, units ns, us (or µs/μs), ms, s, m, h. A bare "0" is zero.
- Durations stay strings in the models; this module only interprets them.
- Every rejection is a `ValueError` whose message quotes the input and says what is expected.
"""

import re

__all__ = ["parse_duration"]

_UNIT_SECONDS: dict[str, float] = {
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
_EXPECTED = 'expected a Go duration such as "30s", "1m30s", "500ms" or "24h"'


def parse_duration(text: str) -> float:
    """Return the duration in seconds; raise ValueError when `text` is not a Go duration."""
    if not isinstance(text, str):
        raise ValueError(f"invalid duration {text!r}: {_EXPECTED}")
    body = text
    sign = 1.0
    if body and body[0] in "+-":
        sign = -1.0 if body[0] == "-" else 1.0
        body = body[1:]
    if body == "0":
        return 0.0
    if not body:
        raise ValueError(f"invalid duration {text!r}: {_EXPECTED}")
    total = 0.0
    pos = 0
    while pos < len(body):
        match = _PART.match(body, pos)
        if match is None:
            if body[pos].isdigit() or body[pos] == ".":
                raise ValueError(f"invalid duration {text!r}: missing or unknown unit; {_EXPECTED}")
            raise ValueError(f"invalid duration {text!r}: unexpected {body[pos:]!r}; {_EXPECTED}")
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    return sign * total
