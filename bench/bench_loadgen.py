"""Benchmark the built-in load generator's rate: does ``-q`` per worker times ``-c`` hold?

For a few (-q, -c) settings it runs ``hey -z <d> -q <q> -c <c> <url>`` through the built-in
generator against a local threaded HTTP server (127.0.0.1, in this process) and prints the rate
the server received next to the target rate ``q * c``. The target is to stay within 10 % of it
(hey's own ticker gives the same shape: each worker waits 1/q between requests). It also prints
the ceiling: the rate with no ``-q`` (one Python process, bound by its CPU; about 300/s on a
loaded 2-core machine), so the settings stay below it.

Run: ``.venv/bin/python bench/bench_loadgen.py`` (5 s per setting; exit status 1 if a setting
misses 10 %), or ``--smoke`` for 1 s per setting on light settings (figures only, no target).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from controller.loadtester.loadgen import parse_hey, run_load

FULL = [(10.0, 1), (10.0, 10), (50.0, 4), (20.0, 10), (5.0, 40)]
SMOKE = [(10.0, 1), (20.0, 4)]
TOLERANCE = 0.10


class Server(ThreadingHTTPServer):
    # The default listen backlog (5) drops the SYNs of many workers connecting at once.
    request_queue_size = 256
    daemon_threads = True


@contextmanager
def local_server() -> Iterator[tuple[str, list[int]]]:
    received = [0]
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: without this, Nagle and delayed ACKs add 40 ms.
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            with lock:
                received[0] += 1
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:
            return

    httpd = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/", received
    finally:
        httpd.shutdown()
        httpd.server_close()


def measure(url: str, received: list[int], rate: float, workers: int, seconds: float) -> tuple[float, int]:
    """The rate the server received over ``seconds`` and the number of failed requests."""
    before = received[0]
    options = parse_hey(["-z", f"{seconds:g}s", "-q", f"{rate:g}", "-c", str(workers), url])
    report = asyncio.run(run_load(options))
    errors = sum(report.errors.values())
    return (received[0] - before) / seconds, errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--smoke", action="store_true", help="1 s per light setting, no target")
    args = parser.parse_args(argv)
    settings = SMOKE if args.smoke else FULL
    seconds = 1.0 if args.smoke else 5.0
    missed = 0
    print(f"built-in load generator, -z {seconds:g}s per setting, target = q * c")
    with local_server() as (url, received):
        ceiling, _ = measure(url, received, 0.0, 5, seconds)
        print(f"ceiling (-c 5, no -q): {ceiling:7.1f}/s")
        for rate, workers in settings:
            target = rate * workers
            measured, errors = measure(url, received, rate, workers, seconds)
            ratio = measured / target
            ok = abs(ratio - 1.0) <= TOLERANCE
            missed += 0 if ok else 1
            print(
                f"-q {rate:6.1f} -c {workers:3d}  target {target:7.1f}/s  measured {measured:7.1f}/s  "
                f"ratio {ratio:5.2f}  errors {errors}{'' if ok else '  MISSED'}"
            )
    if missed and not args.smoke:
        print(f"{missed} setting(s) outside {TOLERANCE:.0%} of the target rate", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
