"""Wait for something the controller does shortly after a state the test already saw."""

from __future__ import annotations

import time
from collections.abc import Callable


def eventually(what: str, predicate: Callable[[], bool], timeout: float = 30.0, every: float = 0.5) -> None:
    """Return once ``predicate()`` holds; fail naming ``what`` when it still does not after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g}s")
        time.sleep(every)
