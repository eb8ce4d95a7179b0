"""Endpoints on 127.0.0.1 that hold a client: one never answers, one trickles its answer.

- ``silent_endpoint`` listens and never accepts: the kernel completes the TCP handshake (the
  client connects and sends its request) and no byte ever comes back.
- ``trickling_endpoint`` answers with a status line and headers at once, then one body byte
  every ``interval`` seconds, so no single read ever waits long enough for a read timeout.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def silent_endpoint() -> Iterator[str]:
    """``http://127.0.0.1:<port>`` of a socket that accepts TCP connections and never replies."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()


@contextmanager
def trickling_endpoint(status: int = 500, interval: float = 0.2, total: float = 30.0) -> Iterator[str]:
    """``http://127.0.0.1:<port>`` that answers ``status`` and then trickles its body."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.1)
    stop = threading.Event()

    def trickle(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(1.0)
            try:
                conn.recv(65536)
                size = int(total / interval) + 1
                conn.sendall(f"HTTP/1.1 {status} Slow\r\nContent-Length: {size}\r\n\r\n".encode())
                for _ in range(size):
                    if stop.is_set():
                        return
                    conn.sendall(b"x")
                    time.sleep(interval)
            except OSError:
                return  # the client gave up, as it should

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=trickle, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()
