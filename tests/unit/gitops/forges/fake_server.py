"""A real HTTP server on 127.0.0.1 in a thread, recording requests, for the forge fakes.

Subclasses implement :meth:`FakeForgeServer.route`; this class parses requests, records them
(method, raw path, query, headers, JSON body), checks authentication, and can be told to
answer the next requests with an injected failure (rate limiting, 5xx) or a delay.
"""

from __future__ import annotations

import json
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

JsonAnswer = tuple[int, Any, dict[str, str]]


@dataclass(frozen=True)
class Recorded:
    """One request as the server saw it. ``path`` is raw (percent-encoding kept)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class Failure:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class FakeForgeServer(ABC):
    """Base of the fakes: ``prefix`` is the API root path (``""``, ``/api/v3``, ``/api/v4``...)."""

    def __init__(self, token: str, prefix: str = "") -> None:
        self.token = token
        self.prefix = prefix
        self.requests: list[Recorded] = []
        self.failures: list[Failure] = []
        self.delay_s = 0.0
        self.dropped = 0
        self.lock = threading.RLock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    # lifecycle -------------------------------------------------------------------------------
    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def root(self) -> str:
        """``http://127.0.0.1:<port>``: the web root."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def api_url(self) -> str:
        return self.root + self.prefix

    # hooks for subclasses ----------------------------------------------------------------------
    @abstractmethod
    def authenticated(self, headers: dict[str, str]) -> bool:
        """Implemented by each fake."""

    @abstractmethod
    def unauthenticated(self) -> JsonAnswer:
        """Implemented by each fake."""

    @abstractmethod
    def route(self, method: str, path: str, query: dict[str, str], body: Any) -> JsonAnswer:
        """Implemented by each fake."""

    # dispatch ----------------------------------------------------------------------------------
    def dispatch(self, method: str, raw_path: str, headers: dict[str, str], raw_body: bytes) -> JsonAnswer:
        parts = urlsplit(raw_path)
        query = {key: values[-1] for key, values in parse_qs(parts.query, keep_blank_values=True).items()}
        try:
            body = json.loads(raw_body) if raw_body else None
        except json.JSONDecodeError:
            return 400, {"message": "Problems parsing JSON"}, {}
        with self.lock:
            self.requests.append(Recorded(method, parts.path, query, headers, body))
            failure = self.failures.pop(0) if self.failures else None
        if self.delay_s:
            time.sleep(self.delay_s)
        if failure is not None:
            return failure.status, failure.body, failure.headers
        if not self.authenticated(headers):
            return self.unauthenticated()
        if not parts.path.startswith(self.prefix + "/"):
            return 404, {"message": "Not Found"}, {}
        with self.lock:
            return self.route(method, parts.path[len(self.prefix) :], query, body)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                headers = {key.lower(): value for key, value in self.headers.items()}
                status, payload, extra = fake.dispatch(self.command, self.path, headers, raw)
                data = b"" if payload is None else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for key, value in extra.items():
                    self.send_header(key, value)
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    fake.dropped += 1  # the client gave up (the timeout tests do this)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler


def split_path(path: str) -> list[str]:
    """Raw path segments (percent-encoding kept)."""
    return [segment for segment in path.split("/") if segment]


def page_of(items: list[Any], query: dict[str, str], size_key: str, default: int, maximum: int) -> list[Any]:
    """The requested page, as the forges paginate: 1-based ``page`` and a clamped size."""
    size = min(max(int(query.get(size_key, default)), 1), maximum)
    page = max(int(query.get("page", "1")), 1)
    return items[(page - 1) * size : page * size]
