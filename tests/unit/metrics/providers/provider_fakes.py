"""Shared pieces of the metric provider contract tests.

``contract(shape, answer)`` builds a responder for the ``http_server`` fixture (a real HTTP
server on 127.0.0.1 in a thread, ``tests/recording_http.py``): it answers ``answer`` when
``shape`` finds nothing wrong with the request, and 400 naming the mismatch otherwise, so a
provider that sends the wrong request shape fails its test with the reason.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

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


# --- Google service accounts (stackdriver) -------------------------------------------------------

_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RSA_PUBLIC_KEY = _RSA_KEY.public_key()
RSA_PEM = _RSA_KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
).decode()
GOOGLE_ACCESS_TOKEN = "ya29.c.SECRET-ACCESS-TOKEN"


def service_account_json(token_uri: str, email: str = "canary@my-project.iam.gserviceaccount.com") -> str:
    """A service-account key file as the Google Cloud console writes it (with a test key)."""
    return json.dumps(
        {
            "type": "service_account",
            "project_id": "my-project",
            "private_key_id": "0123456789abcdef",
            "private_key": RSA_PEM,
            "client_email": email,
            "client_id": "100000000000000000001",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
        }
    )


def _unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def jwt_bearer_problems(request: Recorded, token_uri: str, scope: str) -> list[str]:
    """How a token request differs from the JWT bearer grant (RFC 7523) Google's endpoint takes."""
    if request.method != "POST":
        return [f"method {request.method}"]
    if request.headers.get("content-type") != "application/x-www-form-urlencoded":
        return [f"content-type {request.headers.get('content-type')}"]
    form = parse_qs(request.body.decode())
    if form.get("grant_type") != ["urn:ietf:params:oauth:grant-type:jwt-bearer"]:
        return [f"grant_type {form.get('grant_type')}"]
    parts = (form.get("assertion") or [""])[0].split(".")
    if len(parts) != 3:
        return ["assertion is not a JWT"]
    try:
        RSA_PUBLIC_KEY.verify(
            _unb64(parts[2]), f"{parts[0]}.{parts[1]}".encode(), padding.PKCS1v15(), hashes.SHA256()
        )
    except InvalidSignature:
        return ["assertion signature does not verify with the service account's public key"]
    header, claims = json.loads(_unb64(parts[0])), json.loads(_unb64(parts[1]))
    return [
        *expect(header == {"alg": "RS256", "typ": "JWT", "kid": "0123456789abcdef"}, f"header {header}"),
        *expect(claims.get("iss") == "canary@my-project.iam.gserviceaccount.com", "iss"),
        *expect(claims.get("aud") == token_uri, f"aud {claims.get('aud')}"),
        *expect(claims.get("scope") == scope, f"scope {claims.get('scope')}"),
        *expect(claims.get("exp", 0) - claims.get("iat", 0) == 3600, "exp - iat"),
    ]


def token_answer(expires_in: int = 3599) -> Reply:
    """The token endpoint's documented success answer."""
    return Reply(body={"access_token": GOOGLE_ACCESS_TOKEN, "expires_in": expires_in, "token_type": "Bearer"})


# --- Server-Sent Events (splunk) ----------------------------------------------------------------


@dataclass
class SseReply:
    """A streamed answer: ``chunks`` written one by one (flushed, ``delay`` seconds apart), then
    the connection closed, unless ``hang`` keeps it open as a computation that never ends."""

    status: int = 200
    chunks: list[str] = field(default_factory=list)
    content_type: str = "text/event-stream"
    delay: float = 0.0
    hang: bool = False


@dataclass
class SseServer:
    url: str
    requests: list[Recorded] = field(default_factory=list)
    responder: Callable[[Recorded], SseReply] = lambda _request: SseReply()


@contextmanager
def serve_sse() -> Iterator[SseServer]:
    """A real HTTP/1.1 server on 127.0.0.1 that streams its answer without a Content-Length."""
    state = SseServer(url="")
    stop = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            recorded = Recorded(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query, keep_blank_values=True),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
            )
            state.requests.append(recorded)
            reply = state.responder(recorded)
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                for chunk in reply.chunks:
                    self.wfile.write(chunk.encode())
                    self.wfile.flush()
                    if reply.delay:
                        time.sleep(reply.delay)
                while reply.hang and not stop.wait(0.05):
                    self.wfile.write(b": keep-alive\n\n")
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                return
            self.close_connection = True

        do_GET = _serve
        do_POST = _serve

        def log_message(self, format: str, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def sse(event: str, payload: object, pretty: bool = True) -> str:
    """One event as SignalFlow writes it: pretty-printed JSON, one ``data:`` line per line."""
    text = json.dumps(payload, indent=2 if pretty else None)
    return f"event: {event}\n" + "".join(f"data: {line}\n" for line in text.split("\n")) + "\n"
