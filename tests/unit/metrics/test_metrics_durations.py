from __future__ import annotations

import math

import pytest

from controller.metrics.durations import format_go_duration_ms, format_go_float, interval_seconds
from controller.metrics.errors import ProviderConfigError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30.0),
        ("1m", 60.0),
        ("1h30m", 5400.0),
        ("1.5m", 90.0),
        ("500ms", 0.5),
        ("0", 0.0),
        ("-2s", -2.0),
    ],
)
def test_interval_seconds(text: str, seconds: float) -> None:
    assert interval_seconds(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "1", "1x", "m", "1m junk", "1mm"])
def test_interval_seconds_rejects_invalid(text: str) -> None:
    with pytest.raises(ProviderConfigError, match="error parsing metric interval: invalid duration"):
        interval_seconds(text)


@pytest.mark.parametrize(
    ("ms", "text"),
    [(0, "0s"), (500, "500ms"), (1200, "1.2s"), (1000, "1s"), (90_000, "1m30s"), (3_723_456, "1h2m3.456s")],
)
def test_format_go_duration_ms(ms: int, text: str) -> None:
    assert format_go_duration_ms(ms) == text


def test_format_go_float_matches_go_percent_v() -> None:
    assert format_go_float(99.0) == "99"
    assert format_go_float(99.5) == "99.5"
    assert format_go_float(math.inf) == "+Inf"
    assert format_go_float(math.nan) == "NaN"
