"""Smart-HTTP git server: ``git http-backend`` behind HTTP basic or bearer auth.

Run as ``python -m gitcanary_sandbox.githttp --port P --root DIR --auth-file FILE``.
The auth file (mode 0600) holds JSON ``{"username": ..., "password": ..., "token": ...}``.
Every request must authenticate; a wrong password or token gets 401 and git
refuses. Credentials are never logged.
"""

from __future__ import annotations

import argparse
import base64
import hmac
import json
import os
import subprocess
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit


def authorized(header: str | None, creds: dict[str, str]) -> bool:
    if not header:
        return False
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic":
        try:
            user, _, password = base64.b64decode(value).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return hmac.compare_digest(user, creds.get("username", "")) and hmac.compare_digest(
            password, creds.get("password", "")
        )
    if scheme.lower() == "bearer" and creds.get("token"):
        return hmac.compare_digest(value.strip(), creds["token"])
    return False


def make_handler(root: Path, creds: dict[str, str]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"
        timeout = 60  # a client that stops sending mid-request cannot hold a thread forever

        def log_message(self, format: str, *args: object) -> None:
            return

        def _deny(self) -> None:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="gitcanary-sandbox"')
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _fail(self, reason: str) -> None:
            print(f"githttp: {self.command} {urlsplit(self.path).path}: {reason}", file=sys.stderr)
            payload = reason.encode("utf-8", "replace")
            self.send_response(500)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _backend(self) -> None:
            if not authorized(self.headers.get("Authorization"), creds):
                self._deny()
                return
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "GIT_PROJECT_ROOT": str(root),
                "GIT_HTTP_EXPORT_ALL": "1",
                "PATH_INFO": parts.path,
                "QUERY_STRING": parts.query,
                "REQUEST_METHOD": self.command,
                "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                "CONTENT_LENGTH": str(len(body)),
                "REMOTE_USER": creds.get("username", "token"),
                "REMOTE_ADDR": self.client_address[0],
                "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
                "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
            }
            try:
                proc = subprocess.run(
                    ["git", "http-backend"], input=body, env=env, capture_output=True, timeout=120
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                self._fail(f"git http-backend did not run: {exc}")
                return
            head, found, payload = proc.stdout.partition(b"\r\n\r\n")
            if proc.returncode != 0 and not found:
                # Without this, an empty 200 makes git fall back to the dumb protocol and report
                # "Cannot access URL ..., return code 22", which hides the real cause.
                reason = proc.stderr.decode("utf-8", "replace").strip()[-2000:]
                self._fail(f"git http-backend exited {proc.returncode}: {reason}")
                return
            status, headers = 200, []
            for line in head.decode("latin-1").split("\r\n"):
                name, _, value = line.partition(":")
                if name.lower() == "status":
                    status = int(value.strip().split()[0])
                elif name:
                    headers.append((name, value.strip()))
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = _backend
        do_POST = _backend

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--auth-file", type=Path, required=True)
    args = parser.parse_args()
    creds = json.loads(args.auth_file.read_text())
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(args.root, creds))
    server.serve_forever()


if __name__ == "__main__":
    main()
