"""A real forwarding HTTP proxy on 127.0.0.1: takes absolute-form requests and relays them.

It records the request lines it proxied (``seen``) and relays method, path, headers and body to
the target with ``http.client``, so a test sees both the proxy hop and the target's request."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

_HOP_BY_HOP = {"connection", "proxy-connection", "keep-alive", "proxy-authorization", "te", "upgrade"}


@dataclass
class ForwardingProxy:
    url: str
    seen: list[str] = field(default_factory=list)


def _handler(state: ForwardingProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            state.seen.append(f"{self.command} {self.path}")
            target = urlsplit(self.path)
            if not target.scheme or not target.hostname:
                self.send_error(400, "not an absolute-form request")
                return
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            upstream = http.client.HTTPConnection(target.hostname, target.port or 80, timeout=5)
            try:
                path = target.path + (f"?{target.query}" if target.query else "")
                upstream.request(self.command, path or "/", body=body, headers=headers)
                answer = upstream.getresponse()
                payload = answer.read()
            except OSError:
                self.send_error(502, "upstream unreachable")
                return
            finally:
                upstream.close()
            self.send_response(answer.status)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            return None

    return Handler


@contextmanager
def forwarding_proxy() -> Iterator[ForwardingProxy]:
    state = ForwardingProxy(url="")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
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
