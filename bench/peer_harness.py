"""What bench_peer.py measures with: the two controllers as processes, their CPU and memory, the
apiserver's request counter, and a watch that timestamps every Canary phase change.

- ``Controller``: Flagger v1.44.0 (``gitcanary_sandbox.flagger_binary.ensure_flagger``, kubernetes
  provider) or ``gitcanary run``, each limited to one namespace, started and stopped here, healthy
  before it is used.
- ``cpu_seconds`` / ``peak_rss_mib``: user+system CPU and VmHWM from ``/proc/<pid>``.
- ``apiserver_requests``: the sum of every ``apiserver_request_total`` series (``GET /metrics``
  through the admin kubeconfig).
- ``PhaseWatch``: ``kubectl get --watch`` on the Canaries of one namespace; the first time each
  Canary reaches each phase after ``mark()``, on the monotonic clock. One watch request for the
  whole phase, so the benchmark itself adds almost nothing to the apiserver's count.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gitcanary_sandbox import processes
from gitcanary_sandbox.binaries import kube_bin_dir
from gitcanary_sandbox.client import SandboxClient
from gitcanary_sandbox.flagger_binary import ensure_flagger

REPO = Path(__file__).resolve().parents[1]
GROUPS = {"flagger": "flagger.app", "gitcanary": "gitcanary.io"}
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class Controller:
    name: str  # "flagger" or "gitcanary"
    proc: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def start_controller(
    name: str,
    client: SandboxClient,
    namespace: str,
    work: Path,
    extra: tuple[str, ...] = (),
    profile: Path | None = None,
) -> Controller:
    """``profile``: gitcanary runs under cProfile (``bench/profiled_controller.py``), profiling
    from SIGUSR1 to SIGUSR2, its stats written there; CPU figures of such a run include the
    profiler's own cost."""
    port = processes.free_port()
    if name == "flagger":
        argv = [
            str(ensure_flagger(progress=lambda m: print(m, file=sys.stderr))),
            f"-kubeconfig={client.kubeconfig}",
            "-mesh-provider=kubernetes",
            f"-metrics-server={client.state.prometheus_url}",
            f"-namespace={namespace}",
            f"-port={port}",
            "-log-level=info",
            *extra,
        ]
        env = dict(os.environ)
    else:
        entry = ["-m", "controller.cli.main"]
        if profile is not None:
            entry = [str(REPO / "bench" / "profiled_controller.py"), str(profile)]
        argv = [
            sys.executable,
            *entry,
            "run",
            f"--kubeconfig={client.kubeconfig}",
            f"--health=http://127.0.0.1:{port}/healthz",
            f"--metrics-addr=127.0.0.1:{processes.free_port()}",
            f"--namespace={namespace}",
            *extra,
        ]
        env = {**os.environ, "GITCANARY_METRICS_SERVER": client.state.prometheus_url}
    log = work / f"{name}-{namespace}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO)
    controller = Controller(name, proc, log)
    deadline = time.monotonic() + 60
    while not processes.http_ok(f"http://127.0.0.1:{port}/healthz"):
        if proc.poll() is not None or time.monotonic() > deadline:
            controller.stop()
            raise RuntimeError(f"{name} did not become healthy:\n{processes.log_tail(log, 40)}")
        time.sleep(0.3)
    return controller


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14 and 15)


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for pid {pid}")


def apiserver_requests(client: SandboxClient) -> float:
    total = 0.0
    for line in client.kubectl("get", "--raw", "/metrics", timeout=60).splitlines():
        if line.startswith("apiserver_request_total{"):
            value = float(line.rsplit(" ", 1)[1])
            if value != value or value in (float("inf"), float("-inf")):
                raise RuntimeError(f"non-finite apiserver_request_total sample: {line}")
            total += value
    return total


@dataclass
class PhaseWatch:
    """First arrival of each (canary, phase) after the last ``mark()``."""

    client: SandboxClient
    group: str
    namespace: str
    seen: dict[tuple[str, str], float] = field(default_factory=dict)
    error: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        template = '{.metadata.name} {.status.phase}{"\\n"}'
        self._proc = subprocess.Popen(
            [
                str(kube_bin_dir() / "kubectl"),
                f"--kubeconfig={self.client.kubeconfig}",
                "get",
                f"canaries.{self.group}",
                "-n",
                self.namespace,
                "--watch",
                "-o",
                f"jsonpath={template}",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            now = time.monotonic()
            name, _, phase = line.strip().partition(" ")
            if name and phase:
                with self._lock:
                    self.seen.setdefault((name, phase), now)
        if self._proc.poll() not in (None, 0, -15):
            self.error = (self._proc.stderr.read() if self._proc.stderr else "")[-2000:]

    def mark(self) -> None:
        with self._lock:
            self.seen.clear()

    def first(self, phase: str) -> dict[str, float]:
        with self._lock:
            return {name: at for (name, p), at in self.seen.items() if p == phase}

    def wait(
        self, phase: str, names: list[str], timeout: float, describe: Callable[[], str]
    ) -> dict[str, float]:
        deadline = time.monotonic() + timeout
        while len(reached := self.first(phase)) < len(names):
            if self.error:
                raise RuntimeError(f"the Canary watch failed: {self.error}")
            if time.monotonic() > deadline:
                missing = sorted(set(names) - set(reached))[:5]
                raise RuntimeError(
                    f"{len(reached)}/{len(names)} Canaries {phase} after {timeout:.0f}s; e.g. not: {missing}\n"
                    f"{describe()}"
                )
            time.sleep(0.05)
        return reached

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=10)
