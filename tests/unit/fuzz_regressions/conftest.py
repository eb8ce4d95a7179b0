"""Fixtures of the fuzz regressions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .raw_http import RawServer


@pytest.fixture
def server() -> Iterator[RawServer]:
    """A RawServer on 127.0.0.1; set ``answer`` to the bytes every connection receives."""
    running = RawServer()
    yield running
    running.close()
