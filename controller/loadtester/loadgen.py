"""A built-in load generator that takes a ``hey`` command line and prints hey's summary.

Serves ``type: cmd`` tasks whose command is ``hey ...`` when no ``hey`` binary is on PATH.

Invariants:
- Flags follow hey v0.1.4 and Go's ``flag`` package: ``-name value`` or ``-name=value`` (one or
  two dashes), boolean flags take no value, parsing stops at the first non-flag (the URL) or
  ``--``. ``-z`` makes ``-n`` irrelevant; without it ``-n`` and ``-c`` must be >= 1 and
  ``-n >= -c``, and each of the ``-c`` workers sends ``n // c`` requests (as hey does).
  ``-q`` is a rate per worker. ``-t`` is the per-request timeout in seconds (0: the run's own
  deadline). Flags hey has that this generator does not serve (``-o``, ``-D``, ``-x``, ``-h2``)
  are refused, never ignored.
- Limits: at most ``MAX_WORKERS`` workers, ``MAX_REQUESTS`` requests in all, ``MAX_DURATION``
  seconds of ``-z``; a run also ends at its caller's deadline (``-z`` plus ``GRACE_SECONDS``
  by default), requests still in flight then are cancelled and counted as errors. Response
  bodies are read and dropped (only their size is kept), and the error distribution keeps at
  most ``MAX_ERROR_KINDS`` distinct messages.
- A failed request counts in the error distribution; only a command line that cannot run is a
  non-zero exit (hey exits 0 whatever the servers answer).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import math
import re
import ssl
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx

from controller.api.duration import parse_duration

__all__ = [
    "GRACE_SECONDS",
    "MAX_DURATION",
    "MAX_REQUESTS",
    "MAX_WORKERS",
    "HeyOptions",
    "LoadReport",
    "LoadgenError",
    "format_summary",
    "parse_hey",
    "run_hey",
    "run_load",
]

MAX_WORKERS = 1000
MAX_REQUESTS = 1_000_000
MAX_DURATION = 3600.0
GRACE_SECONDS = 5.0
# Distinct error messages kept in the error distribution; the rest count as "other errors".
MAX_ERROR_KINDS = 50
USER_AGENT = "gitcanary-loadgen (hey compatible)"
_HEADER = re.compile(r"^([\w-]+):\s*(.+)")
_BASIC_AUTH = re.compile(r"^(.+):([^\s].+)")
_VALUE_FLAGS = frozenset({"m", "H", "d", "A", "T", "a", "host", "c", "n", "q", "t", "z", "cpus"})
_BOOL_FLAGS = frozenset({"disable-compression", "disable-keepalive", "disable-redirects"})
_REFUSED = frozenset({"o", "D", "x", "h2", "h"})


class LoadgenError(ValueError):
    """A hey command line the built-in generator cannot run."""


@dataclass(frozen=True)
class HeyOptions:
    url: str
    requests: int = 200
    workers: int = 50
    rate: float = 0.0
    duration: float = 0.0
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    host: str | None = None
    timeout: float = 20.0
    keepalive: bool = True
    redirects: bool = True


def _number(name: str, text: str, kind: type[int] | type[float]) -> float:
    try:
        value = kind(text)
    except ValueError as exc:
        raise LoadgenError(f"invalid value {text!r} for flag -{name}") from exc
    if not math.isfinite(value):
        raise LoadgenError(f"invalid value {text!r} for flag -{name}")
    return value


def _split_flags(args: Sequence[str]) -> tuple[list[tuple[str, str | None]], list[str]]:
    flags: list[tuple[str, str | None]] = []
    rest = list(args)
    while rest:
        arg = rest[0]
        if len(arg) < 2 or not arg.startswith("-"):
            break
        rest.pop(0)
        if arg == "--":
            break
        name = arg[2:] if arg.startswith("--") else arg[1:]
        value: str | None = None
        if "=" in name:
            name, value = name.split("=", 1)
        if name in _REFUSED:
            raise LoadgenError(f"flag -{name} is not served by the built-in load generator")
        if name in _BOOL_FLAGS:
            if value is not None and value not in ("1", "t", "T", "true", "TRUE", "True"):
                raise LoadgenError(f"flag -{name} only turns an option on")
            flags.append((name, None))
            continue
        if name not in _VALUE_FLAGS:
            raise LoadgenError(f"flag provided but not defined: -{name}")
        if value is None:
            if not rest:
                raise LoadgenError(f"flag needs an argument: -{name}")
            value = rest.pop(0)
        flags.append((name, value))
    return flags, rest


def parse_hey(args: Sequence[str]) -> HeyOptions:
    """The options of ``hey <args>`` (``args`` without the program name)."""
    flags, rest = _split_flags(args)
    if not rest:
        raise LoadgenError("the URL is missing (usage: hey [options...] <url>)")
    values: dict[str, str] = {}
    headers: dict[str, tuple[str, str]] = {"content-type": ("Content-Type", "text/html")}
    keepalive = redirects = True
    for name, value in flags:
        if value is None:
            keepalive = keepalive and name != "disable-keepalive"
            redirects = redirects and name != "disable-redirects"
            if name == "disable-compression":
                # Go's transport then asks for no gzip; httpx would ask for gzip and deflate.
                headers["accept-encoding"] = ("Accept-Encoding", "identity")
        elif name == "H":
            match = _HEADER.match(value)
            if match is None:
                raise LoadgenError(f"could not parse the header {value!r}")
            headers[match[1].lower()] = (match[1], match[2])
        else:
            values[name] = value
    if "A" in values:
        headers["accept"] = ("Accept", values["A"])
    if "T" in values:
        headers["content-type"] = ("Content-Type", values["T"])
    auth = None
    if "a" in values:
        match = _BASIC_AUTH.match(values["a"])
        if match is None:
            raise LoadgenError("could not parse the -a username:password")
        auth = (match[1], match[2])
    try:
        duration = parse_duration(values["z"]) if "z" in values else 0.0
    except ValueError as exc:
        raise LoadgenError(f"invalid value for flag -z: {exc}") from exc
    requests = int(_number("n", values.get("n", "200"), int))
    workers = int(_number("c", values.get("c", "50"), int))
    rate = _number("q", values.get("q", "0"), float)
    timeout = _number("t", values.get("t", "20"), int)
    if duration > 0:
        if workers <= 0:
            raise LoadgenError("-c cannot be smaller than 1.")
    elif requests <= 0 or workers <= 0:
        raise LoadgenError("-n and -c cannot be smaller than 1.")
    elif requests < workers:
        raise LoadgenError("-n cannot be less than -c.")
    if workers > MAX_WORKERS:
        raise LoadgenError(f"-c {workers} is over the built-in generator's limit of {MAX_WORKERS} workers")
    if duration <= 0 and requests > MAX_REQUESTS:
        raise LoadgenError(f"-n {requests} is over the built-in generator's limit of {MAX_REQUESTS} requests")
    if duration > MAX_DURATION:
        raise LoadgenError(f"-z is over the built-in generator's limit of {MAX_DURATION:.0f}s")
    url = rest[0]
    if not url.startswith(("http://", "https://")):
        raise LoadgenError(f"unsupported URL {url!r}: only http and https are served")
    header_list = list(headers.values())
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        header_list.append(("Authorization", f"Basic {token}"))
    return HeyOptions(
        url=url,
        requests=requests,
        workers=workers,
        rate=max(rate, 0.0),
        duration=max(duration, 0.0),
        method=values.get("m", "GET").upper(),
        headers=tuple(header_list),
        body=values.get("d", "").encode(),
        host=values.get("host") or None,
        timeout=max(timeout, 0.0),
        keepalive=keepalive,
        redirects=redirects,
    )


@dataclass
class LoadReport:
    total: float = 0.0
    latencies: list[float] = field(default_factory=list)
    status: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    size_total: int = 0

    @property
    def count(self) -> int:
        return len(self.latencies)


def _count_error(report: LoadReport, error: str, times: int = 1) -> None:
    if error not in report.errors and len(report.errors) >= MAX_ERROR_KINDS:
        error = "other errors"
    report.errors[error] += times


def _describe(error: BaseException) -> str:
    name = type(error).__name__
    text = str(error)
    return f"{name}: {text}" if text else name


async def run_load(options: HeyOptions, deadline: float | None = None) -> LoadReport:
    """Send the load ``options`` describe; at most ``deadline`` seconds (default ``-z`` + grace)."""
    if deadline is None:
        deadline = options.duration + GRACE_SECONDS if options.duration > 0 else MAX_DURATION
    report = LoadReport()
    per_worker = MAX_REQUESTS if options.duration > 0 else options.requests // options.workers
    sent = in_flight = 0
    stop = asyncio.Event()
    headers = [("User-Agent", USER_AGENT), *options.headers]
    if options.host is not None:
        headers.append(("Host", options.host))
    # One connection per worker, each in its own small pool: one pool shared by many workers
    # costs its lock and bookkeeping on every request (p50 160 ms at -c 40 against 5 ms).
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1 if options.keepalive else 0)
    timeout = httpx.Timeout(options.timeout if options.timeout > 0 else deadline)
    started = time.monotonic()

    sleeping: set[asyncio.Task[None]] = set()

    async def pause(seconds: float) -> None:
        # Until the next tick; ``halt`` cancels the wait, so a slow -q never outlives -z.
        current = asyncio.current_task()
        assert current is not None
        sleeping.add(current)
        try:
            await asyncio.sleep(max(seconds, 0.0))
        finally:
            sleeping.discard(current)

    def halt() -> None:
        stop.set()
        for waiting in list(sleeping):
            waiting.cancel()

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal sent, in_flight
        interval = 1.0 / options.rate if options.rate > 0 else 0.0
        next_at = time.monotonic()
        for _ in range(per_worker):
            if interval:
                next_at += interval
                await pause(next_at - time.monotonic())
                # A worker that fell behind does not burst to catch up (hey's ticker drops ticks).
                next_at = max(next_at, time.monotonic() - interval)
            if stop.is_set() or sent >= MAX_REQUESTS:
                return
            sent += 1
            in_flight += 1
            begun = time.monotonic()
            try:
                async with client.stream(
                    options.method, options.url, content=options.body or None, headers=headers
                ) as response:
                    # Read and drop the body (as hey does), keeping only its size.
                    async for chunk in response.aiter_raw():
                        report.size_total += len(chunk)
            except httpx.HTTPError as exc:
                _count_error(report, _describe(exc))
            else:
                report.status[response.status_code] += 1
            finally:
                in_flight -= 1
            report.latencies.append(time.monotonic() - begun)

    tls = ssl.create_default_context()  # loading the CA bundle per client costs ~50 ms each
    async with contextlib.AsyncExitStack() as clients:
        tasks = []
        for _ in range(options.workers):
            client = httpx.AsyncClient(
                limits=limits, timeout=timeout, follow_redirects=options.redirects, verify=tls
            )
            tasks.append(asyncio.create_task(worker(await clients.enter_async_context(client))))
        stopper = None
        if options.duration > 0:
            stopper = asyncio.get_running_loop().call_later(options.duration, halt)
        _, pending = await asyncio.wait(tasks, timeout=deadline)
        if stopper is not None:
            stopper.cancel()
        cut = in_flight
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if cut:
            _count_error(report, "deadline: requests still in flight were cancelled", cut)
    report.total = time.monotonic() - started
    return report


def _secs(value: float) -> str:
    return f"{value:4.4f}"


def format_summary(report: LoadReport) -> str:
    """hey's default summary (its Summary, Status code and Error distribution sections)."""
    lats = report.latencies
    count = report.count
    average = sum(lats) / count if count else 0.0
    rps = count / report.total if report.total > 0 else 0.0
    lines = [
        "",
        "Summary:",
        f"  Total:\t{_secs(report.total)} secs",
        f"  Slowest:\t{_secs(max(lats, default=0.0))} secs",
        f"  Fastest:\t{_secs(min(lats, default=0.0))} secs",
        f"  Average:\t{_secs(average)} secs",
        f"  Requests/sec:\t{_secs(rps)}",
        "  ",
    ]
    if report.size_total > 0:
        lines += [
            f"  Total data:\t{report.size_total} bytes",
            f"  Size/request:\t{report.size_total // count} bytes",
        ]
    ordered = sorted(lats)
    lines += ["", "Latency distribution:"]
    for percent in (10, 25, 50, 75, 90, 95, 99):
        if ordered:
            rank = min(len(ordered) - 1, max(0, math.ceil(percent / 100 * len(ordered)) - 1))
            lines.append(f"  {percent}% in {_secs(ordered[rank])} secs")
    lines += ["", "Status code distribution:"]
    lines += [f"  [{code}]\t{num} responses" for code, num in sorted(report.status.items())]
    lines.append("")
    if report.errors:
        lines.append("Error distribution:")
        lines += [f"  [{num}]\t{error}" for error, num in sorted(report.errors.items())]
    return "\n".join(lines) + "\n"


async def run_hey(args: Sequence[str], deadline: float) -> tuple[int, str]:
    """Run ``hey <args>`` with the built-in generator: the exit code and the output hey prints."""
    try:
        options = parse_hey(args)
    except LoadgenError as exc:
        return 1, f"{exc}\n\nUsage: hey [options...] <url>\n"
    run_deadline = deadline
    if options.duration > 0:
        run_deadline = min(deadline, options.duration + GRACE_SECONDS)
    report = await run_load(options, run_deadline)
    return 0, format_summary(report)
