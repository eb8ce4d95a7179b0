"""A loopback HTTP server that misbehaves on purpose: the contract fake for bad-input tests.

The first path segment picks the behaviour; anything after it is ignored, so a provider that
appends ``/api/v1/query`` to an address still lands on the same behaviour:

* ``/ok``               200 ``{"ok": true}``
* ``/trickle``          200 with a 100000-byte Content-Length, then one byte every 50 ms
* ``/hang``             reads the request and never answers (until the server stops)
* ``/huge``             200, chunked, 100 MiB unless the client stops reading
* ``/huge-declared``    200 announcing 100 MiB in Content-Length
* ``/status-<code>``    that status, with a long body full of control characters
* ``/malformed``        200 with a body that is not JSON
* ``/value-<v>``        a Prometheus instant-query answer whose one sample is ``<v>`` (``+Inf``, ``NaN``)

Kept beside the tests (a uniquely named module, as ``recording_http``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

NOISY_BODY = "\x1b[2J\x1b[31mpassword=hunter2\r\nForged: header\x00\u202e".encode() + b"z" * 4000
"""What ``/status-<code>`` answers: terminal escapes, CRLF, NUL, a bidi override and 4 kB."""


@dataclass
class HostileServer:
    url: str = ""
    hits: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)


def prometheus_vector(value: str) -> bytes:
    sample = {"metric": {}, "value": [1700000000, value]}
    return json.dumps({"status": "success", "data": {"resultType": "vector", "result": [sample]}}).encode()


def _handler(state: HostileServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return None

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            path = urlsplit(self.path).path
            state.hits.append(path)
            mode = unquote(path.lstrip("/").split("/", 1)[0])
            try:
                self._answer(mode)
            except (BrokenPipeError, ConnectionResetError):
                return  # the client gave up, which is the point

        def _answer(self, mode: str) -> None:
            if mode == "trickle":
                self._head(200, {"Content-Length": "100000"})
                for _ in range(100000):
                    if state.stop.wait(0.05):
                        return
                    self.wfile.write(b"x")
                    self.wfile.flush()
            elif mode == "hang":
                state.stop.wait(600)
            elif mode == "huge":
                self._head(200, {"Transfer-Encoding": "chunked"})
                chunk = b"y" * 65536
                for _ in range(1600):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.write(b"0\r\n\r\n")
            elif mode == "huge-declared":
                self._head(200, {"Content-Length": str(100 * 1024 * 1024)})
                self.wfile.write(b"x" * 65536)
            elif mode.startswith("status-"):
                self._body(int(mode.removeprefix("status-")), NOISY_BODY)
            elif mode == "malformed":
                self._body(200, b"<html>not json{", "text/html")
            elif mode.startswith("value-"):
                self._body(200, prometheus_vector(mode.removeprefix("value-")))
            else:
                self._body(200, b'{"ok": true}')

        def _head(self, status: int, headers: dict[str, str]) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()

        def _body(self, status: int, body: bytes, content_type: str = "application/json") -> None:
            self._head(status, {"Content-Type": content_type, "Content-Length": str(len(body))})
            self.wfile.write(body)

        do_GET = _serve
        do_POST = _serve

    return Handler


@contextmanager
def serve_hostile(host: str = "127.0.0.1") -> Iterator[HostileServer]:
    state = HostileServer()
    server = ThreadingHTTPServer((host, 0), _handler(state))
    server.daemon_threads = True
    state.url = f"http://{host}:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.stop.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
