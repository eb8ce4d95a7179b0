from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.recording_http import RecordingServer, serve_recording


@pytest.fixture
def http_server() -> Iterator[RecordingServer]:
    with serve_recording() as server:
        yield server
