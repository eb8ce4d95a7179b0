"""A loopback HTTP server that answers with whatever bytes a fuzz case scripts.

``ScriptedServer`` listens on 127.0.0.1 (a free port) in a background thread. ``play(answers)``
sets the raw HTTP responses of the next requests, in order (the last one repeats); every
connection gets one answer and is then closed. Answers are raw bytes, so a case can send a
malformed status line or headers as easily as a hostile body.
"""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Sequence


def response(
    status: int, headers: Sequence[tuple[str, str]], body: bytes, *, length: int | None = None
) -> bytes:
    """A raw HTTP/1.1 response; ``length`` overrides Content-Length (a lying server)."""
    lines = [f"HTTP/1.1 {status} Fuzz", *(f"{name}: {value}" for name, value in headers)]
    lines.append(f"Content-Length: {len(body) if length is None else length}")
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape") + body


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        connection: socket.socket = self.request
        connection.settimeout(5.0)
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                chunk = connection.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = _content_length(head)
            while len(body) < length:
                chunk = connection.recv(65536)
                if not chunk:
                    break
                body += chunk
            connection.sendall(self.server.next_answer())
        except OSError:  # the client gave up (its deadline): nothing left to answer
            return


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            return int(value.strip())
    return 0


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.answers: list[bytes] = [response(200, [], b"{}")]
        self.served = 0

    def next_answer(self) -> bytes:
        with self.lock:
            answer = self.answers[min(self.served, len(self.answers) - 1)]
            self.served += 1
            return answer


class ScriptedServer:
    """See the module docstring."""

    def __init__(self) -> None:
        self._server = _Server()
        self._thread = threading.Thread(target=self._server.serve_forever, name="fuzz-loopback", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def play(self, answers: Sequence[bytes]) -> None:
        with self._server.lock:
            self._server.answers = list(answers) or [response(200, [], b"")]
            self._server.served = 0
