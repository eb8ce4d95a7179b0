"""Shared pieces of the metric provider contract tests.

``contract(shape, answer)`` builds a responder for the ``http_server`` fixture (a real HTTP
server on 127.0.0.1 in a thread, ``tests/recording_http.py``): it answers ``answer`` when
``shape`` finds nothing wrong with the request, and 400 naming the mismatch otherwise, so a
provider that sends the wrong request shape fails its test with the reason.
"""

from __future__ import annotations

from collections.abc import Callable

from tests.recording_http import Recorded, Reply

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
