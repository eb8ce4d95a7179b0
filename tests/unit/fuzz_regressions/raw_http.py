"""A loopback server that answers with raw bytes, for the fuzz regressions of HTTP parsers."""

from __future__ import annotations

import contextlib
import socket
import threading


class RawServer:
    """Answers every connection on 127.0.0.1 with the same raw bytes, then closes it."""

    def __init__(self) -> None:
        self.answer = b""
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return
            with connection:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = connection.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                head, _, body = data.partition(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                while len(body) < length:
                    body += connection.recv(65536)
                connection.sendall(self.answer)

    def close(self) -> None:
        # shutdown wakes the thread blocked in accept(); close alone would leave it blocked.
        with contextlib.suppress(OSError):  # some kernels refuse it on a listener; close() frees it
            self._socket.shutdown(socket.SHUT_RDWR)
        self._socket.close()


def answer(status: int, body: bytes, *headers: str) -> bytes:
    lines = [f"HTTP/1.1 {status} Fuzz", *headers, f"Content-Length: {len(body)}", "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body
