"""Shared pieces of the metric provider contract tests.

``contract(shape, answer)`` builds a responder for the ``http_server`` fixture (a real HTTP
server on 127.0.0.1 in a thread, ``tests/recording_http.py``): it answers ``answer`` when
``shape`` finds nothing wrong with the request, and 400 naming the mismatch otherwise, so a
provider that sends the wrong request shape fails its test with the reason.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer

from tests.recording_http import Recorded, RecordingServer, Reply, _handler

Shape = Callable[[Recorded], list[str]]
"""Returns the ways a request differs from the documented shape (empty: it matches)."""


def contract(shape: Shape, answer: Reply | Callable[[Recorded], Reply]) -> Callable[[Recorded], Reply]:
    def respond(request: Recorded) -> Reply:
        problems = shape(request)
        if problems:
            return Reply(status=400, body={"contract": problems})
        return answer(request) if callable(answer) else answer

    return respond


def expect(condition: bool, problem: str) -> list[str]:
    return [] if condition else [problem]


GARBAGE_BODIES: tuple[bytes, ...] = (
    b"",
    b"null",
    b"[]",
    b"{}",
    b'"1.5"',
    b"1.5",
    b"true",
    b"<html>oops</html>",
    b'{"results": "x"}',
    b'{"result": [{"data": [{"values": ["NaN"]}]}]}',
    b"\xff\xfe\x00garbage",
    b'{"a": ' * 5000 + b"1" + b"}" * 5000,
)
"""Answers that are not what any provider documents; none may become a number."""


@contextmanager
def serve_contract() -> Iterator[RecordingServer]:
    """``tests.recording_http``'s server, also answering DELETE (the Kubernetes API fakes need it)."""
    state = RecordingServer(url="")
    base = _handler(state)

    class Handler(base):  # type: ignore[valid-type, misc]
        do_DELETE = base.do_GET

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
