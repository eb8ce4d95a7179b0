"""Detached service processes for the sandbox.

Each service is started in its own session (so it outlives ``gitcanary sandbox
up`` and can be stopped as a group), logs to ``<dir>/logs/<name>.log`` and is
recorded in ``<dir>/pids/<name>.pid``. ``stop`` sends SIGTERM to the process
group and SIGKILL after a grace period. Nothing here blocks forever: every wait
has a deadline and fails with the tail of the service's log.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Service:
    name: str
    pid: int
    log: Path


class ServiceFailed(RuntimeError):
    """A sandbox service did not start; the message carries its log tail."""


_LISTEN_PORTS = (10000, 32767)


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port() -> int:
    """A free loopback port for a service to listen on, outside the kernel's ephemeral range.

    A port chosen now is bound later (a control plane starts in between). A port from the
    ephemeral range can be taken meanwhile by any outgoing connection or any ``bind(0)``
    (a Go server answering "404 page not found" where git-http should be), so the choice is
    random among the ports below that range, checked free by binding it once.
    """
    low, high = _ephemeral_range()
    first, last = _LISTEN_PORTS
    last = min(last, low - 1) if low > first else last
    for _ in range(200):
        port = random.randint(first, last)
        if low <= port <= high:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        fallback: int = sock.getsockname()[1]
        return fallback


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); reap it if it is ours.
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ", 1)[-1].startswith("Z"))


def log_tail(log: Path, lines: int = 25) -> str:
    if not log.exists():
        return "(no log)"
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def start(
    base: Path,
    name: str,
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Service:
    (base / "logs").mkdir(parents=True, exist_ok=True)
    (base / "pids").mkdir(parents=True, exist_ok=True)
    log = base / "logs" / f"{name}.log"
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            list(argv),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=full_env,
            cwd=str(cwd) if cwd else None,
            start_new_session=True,
        )
    (base / "pids" / f"{name}.pid").write_text(str(proc.pid))
    return Service(name, proc.pid, log)


def recorded(base: Path, name: str) -> Service | None:
    pid_file = base / "pids" / f"{name}.pid"
    if not pid_file.exists():
        return None
    try:
        pid = int(pid_file.read_text().strip())
    except ValueError:
        return None
    return Service(name, pid, base / "logs" / f"{name}.log")


def stop(base: Path, name: str, grace: float = 10.0) -> bool:
    svc = recorded(base, name)
    if svc is None:
        return False
    was_alive = pid_alive(svc.pid)
    if was_alive:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(svc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and pid_alive(svc.pid):
            time.sleep(0.1)
        if pid_alive(svc.pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(svc.pid, signal.SIGKILL)
    (base / "pids" / f"{name}.pid").unlink(missing_ok=True)
    return was_alive


def wait_until(
    svc: Service, check: Callable[[], bool], what: str, timeout: float = 60.0, interval: float = 0.2
) -> None:
    deadline = time.monotonic() + timeout
    last_error = "probe returned false"
    while time.monotonic() < deadline:
        if not pid_alive(svc.pid):
            raise ServiceFailed(f"{svc.name} exited while waiting for {what}:\n{log_tail(svc.log)}")
        try:
            if check():
                return
        except Exception as exc:  # any failure of a probe means "not yet"; kept for the report
            last_error = f"{type(exc).__name__}: {exc}"
        time.sleep(interval)
    raise ServiceFailed(
        f"{svc.name}: timed out after {timeout:.0f}s waiting for {what} (last probe: {last_error}):\n"
        f"{log_tail(svc.log)}"
    )


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def http_ok(url: str, context: ssl.SSLContext | None = None, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as resp:
            return 200 <= int(resp.status) < 300
    except urllib.error.URLError:
        return False
