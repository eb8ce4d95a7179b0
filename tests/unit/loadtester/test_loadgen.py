"""The built-in hey-compatible load generator: flags as hey parses them, real runs against a
local threaded HTTP server, hey's summary, the limits, and the load tester's wiring."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from controller.loadtester import loadgen, tasks
from controller.loadtester.loadgen import LoadgenError, format_summary, parse_hey, run_hey, run_load
from controller.loadtester.tasks import TaskError, TaskSettings, build_task, run_task


class Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.fail_every = 0

    def record(self, method: str, path: str, headers: dict[str, str], body: bytes) -> int:
        with self.lock:
            self.requests.append((method, path, headers, body))
            count = len(self.requests)
        return 500 if self.fail_every and count % self.fail_every == 0 else 200


class Server(ThreadingHTTPServer):
    # The default listen backlog (5) drops the SYNs of many workers connecting at once.
    request_queue_size = 256
    daemon_threads = True


@pytest.fixture
def server() -> Iterator[tuple[str, Recorder]]:
    recorder = Recorder()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: without this, Nagle and delayed ACKs add 40 ms.
        disable_nagle_algorithm = True

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            code = recorder.record(self.command, self.path, headers, body)
            self.send_response(code)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        do_GET = do_POST = do_PUT = _answer

        def log_message(self, format: str, *args: object) -> None:
            return

    httpd = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/load", recorder
    finally:
        httpd.shutdown()
        httpd.server_close()


# --- flags, as hey v0.1.4 parses them -------------------------------------------------------


def test_defaults_are_heys() -> None:
    opts = parse_hey(["http://x/"])
    assert (opts.requests, opts.workers, opts.rate, opts.duration) == (200, 50, 0.0, 0.0)
    assert (opts.method, opts.timeout, opts.body, opts.host) == ("GET", 20.0, b"", None)
    assert ("Content-Type", "text/html") in opts.headers


def test_flagger_seed_line() -> None:
    opts = parse_hey(["-z", "1m", "-q", "10", "-c", "2", "http://podinfo-canary.test:9898/"])
    assert (opts.duration, opts.rate, opts.workers) == (60.0, 10.0, 2)
    assert opts.url == "http://podinfo-canary.test:9898/"


def test_go_flag_forms_and_repeatable_headers() -> None:
    opts = parse_hey(
        [
            "--c=3",
            "-n=9",
            "-m",
            "post",
            "-H",
            "X-One: 1",
            "-H",
            "Content-Type: application/json",
            "-H",
            "x-one: 2",
            "-d",
            '{"a":1}',
            "-host",
            "app.example",
            "-t",
            "5",
            "-disable-keepalive",
            "http://x/",
        ]
    )
    assert (opts.workers, opts.requests, opts.method) == (3, 9, "POST")
    headers = dict(opts.headers)
    assert headers["Content-Type"] == "application/json"
    # Go's Header.Set: a later header of the same name (any case) replaces the earlier one.
    assert [v for k, v in opts.headers if k.lower() == "x-one"] == ["2"]
    assert opts.body == b'{"a":1}' and opts.host == "app.example" and opts.timeout == 5.0
    assert opts.keepalive is False


def test_disable_compression_asks_for_identity() -> None:
    assert ("Accept-Encoding", "identity") in parse_hey(["-disable-compression", "http://x/"]).headers
    assert all(k != "Accept-Encoding" for k, _ in parse_hey(["http://x/"]).headers)


def test_parsing_stops_at_the_url() -> None:
    assert parse_hey(["-c", "1", "-n", "1", "http://x/", "-c", "9"]).workers == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-n", "1", "-c", "2", "http://x/"], "-n cannot be less than -c"),
        (["-n", "0", "http://x/"], "-n and -c cannot be smaller than 1"),
        (["-z", "1s", "-c", "0", "http://x/"], "-c cannot be smaller than 1"),
        (["-c"], "flag needs an argument: -c"),
        (["-bogus", "http://x/"], "flag provided but not defined: -bogus"),
        (["-H", "no colon", "http://x/"], "could not parse the header"),
        (["-q", "fast", "http://x/"], "invalid value 'fast' for flag -q"),
        (["-q", "nan", "http://x/"], "invalid value 'nan' for flag -q"),
        (["-o", "csv", "http://x/"], "-o is not served"),
        (["-c", "1", "-n", "1"], "the URL is missing"),
        (["-c", "1", "-n", "1", "ftp://x/"], "only http and https"),
    ],
)
def test_bad_lines_are_refused(args: list[str], message: str) -> None:
    with pytest.raises(LoadgenError, match=re.escape(message)):
        parse_hey(args)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-c", "1001", "-z", "1s", "http://x/"], "limit of 1000 workers"),
        (["-n", "2000000", "-c", "1", "http://x/"], "limit of 1000000 requests"),
        (["-z", "2h", "http://x/"], "limit of 3600s"),
    ],
)
def test_limits_are_refused_clearly(args: list[str], message: str) -> None:
    with pytest.raises(LoadgenError, match=re.escape(message)):
        parse_hey(args)


def test_a_refused_line_exits_non_zero_with_the_reason() -> None:
    code, out = asyncio.run(run_hey(["-c", "5000", "-z", "1s", "http://x/"], 5.0))
    assert code == 1 and "limit of 1000 workers" in out and "Usage: hey" in out


# --- runs against a local server -------------------------------------------------------------


def test_n_sends_n_div_c_per_worker(server: tuple[str, Recorder]) -> None:
    url, recorder = server
    report = asyncio.run(run_load(parse_hey(["-n", "25", "-c", "4", url]), 20.0))
    # hey gives each of the -c workers n // c requests: 4 * 6 = 24.
    assert len(recorder.requests) == 24 and report.count == 24
    assert report.status == {200: 24} and not report.errors


def test_method_headers_body_and_host_reach_the_server(server: tuple[str, Recorder]) -> None:
    url, recorder = server
    args = ["-n", "2", "-c", "1", "-m", "PUT", "-H", "X-Test: yes", "-d", "payload"]
    report = asyncio.run(run_load(parse_hey([*args, "-host", "canary.example", url]), 20.0))
    assert report.count == 2
    method, path, headers, body = recorder.requests[0]
    assert (method, path, body) == ("PUT", "/load", b"payload")
    assert headers["x-test"] == "yes" and headers["host"] == "canary.example"
    assert headers["content-type"] == "text/html"


def test_q_and_c_set_the_rate_over_z(server: tuple[str, Recorder]) -> None:
    url, recorder = server
    started = time.monotonic()
    report = asyncio.run(run_load(parse_hey(["-z", "2s", "-q", "10", "-c", "3", url])))
    elapsed = time.monotonic() - started
    assert elapsed < 2.0 + loadgen.GRACE_SECONDS
    # 3 workers at 10/s each for 2 s: 60 requests, within 20 %.
    assert 48 <= len(recorder.requests) <= 66, len(recorder.requests)
    assert report.count == len(recorder.requests)


def test_status_code_distribution_and_summary(server: tuple[str, Recorder]) -> None:
    url, recorder = server
    recorder.fail_every = 4
    code, out = asyncio.run(run_hey(["-n", "20", "-c", "2", url], 20.0))
    assert code == 0
    assert "  [200]\t15 responses" in out and "  [500]\t5 responses" in out
    for label in ("Total", "Slowest", "Fastest", "Average"):
        assert re.search(rf"^  {label}:\t\d+\.\d{{4}} secs$", out, re.M), label
    assert re.search(r"^  Requests/sec:\t\d+\.\d{4}$", out, re.M)
    assert "Status code distribution:" in out and "Error distribution:" not in out


def test_errors_are_counted_not_raised() -> None:
    report = asyncio.run(run_load(parse_hey(["-n", "3", "-c", "1", "-t", "2", "http://127.0.0.1:9/"]), 10.0))
    assert report.count == 3 and sum(report.errors.values()) == 3 and not report.status
    assert "Error distribution:\n  [3]\tConnectError" in format_summary(report)


def test_the_deadline_ends_a_run_against_a_silent_server() -> None:
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    try:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/"
        started = time.monotonic()
        report = asyncio.run(run_load(parse_hey(["-n", "2", "-c", "2", "-t", "0", url]), 0.5))
        assert time.monotonic() - started < 3.0
        assert report.errors == {"deadline: requests still in flight were cancelled": 2}
    finally:
        listener.close()


def test_a_slow_rate_does_not_outlive_z(server: tuple[str, Recorder]) -> None:
    url, recorder = server
    started = time.monotonic()
    report = asyncio.run(run_load(parse_hey(["-z", "0.5s", "-q", "0.1", "-c", "2", url])))
    # Each worker waits 10 s for its first tick; -z ends the run at 0.5 s, with nothing cut.
    assert time.monotonic() - started < 2.0
    assert report.count == 0 and not report.errors and not recorder.requests


def test_the_total_request_cap_ends_a_z_run(
    server: tuple[str, Recorder], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, recorder = server
    monkeypatch.setattr(loadgen, "MAX_REQUESTS", 30)
    report = asyncio.run(run_load(parse_hey(["-z", "20s", "-c", "3", url])))
    assert report.count == 30 and len(recorder.requests) == 30
    assert report.total < 10.0


def test_the_error_distribution_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loadgen, "MAX_ERROR_KINDS", 2)
    report = loadgen.LoadReport()
    for error in ("a", "b", "c", "d", "a"):
        loadgen._count_error(report, error)
    assert report.errors == {"a": 2, "b": 1, "other errors": 2}


# --- the load tester runs it for a hey line when no hey binary is on PATH -------------------


def test_a_hey_cmd_runs_the_builtin_generator(
    server: tuple[str, Recorder], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, recorder = server
    monkeypatch.setattr(tasks.shutil, "which", lambda name: None)
    settings = TaskSettings(timeout=30.0)
    task = build_task("podinfo.test", {"cmd": f"hey -n 6 -c 2 {url}"}, settings)
    assert task.builtin_hey is not None and task.program == "hey"
    result = asyncio.run(run_task(task, settings))
    assert result.ok and b"[200]\t6 responses" in result.output
    assert len(recorder.requests) == 6


def test_a_hey_binary_on_path_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tasks.shutil, "which", lambda name: "/usr/bin/hey")
    assert build_task("c", {"cmd": "hey -z 1m http://x/"}, TaskSettings()).builtin_hey is None


def test_the_allow_list_still_decides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tasks.shutil, "which", lambda name: None)
    with pytest.raises(TaskError) as refused:
        build_task("c", {"cmd": "hey http://x/"}, TaskSettings(allowed_programs=frozenset({"curl"})))
    assert refused.value.status == 403
    shell = TaskSettings(cmd_shell=True, allowed_programs=frozenset({"sh"}))
    assert build_task("c", {"cmd": "hey -n 1 -c 1 http://x/"}, shell).builtin_hey == (
        "-n",
        "1",
        "-c",
        "1",
        "http://x/",
    )
    assert build_task("c", {"cmd": "hey http://x/ | tee f"}, shell).builtin_hey is None
