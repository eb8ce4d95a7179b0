"""Scale: one controller process driving N progressing canaries at a 10 s interval.

On the sandbox (real apiserver, KWOK nodes), creates N Deployments (1 replica) with a blue/green
Canary each (iterations high enough to stay Progressing), waits until all are Progressing, then
observes for a window and prints: the p50/p99 tick lateness from the controller's own histogram
(``gitcanary_tick_lateness_seconds``, observed only over the window), tick duration, and the
controller's peak RSS (VmHWM). Targets from DESIGN.md: 1,000 canaries, p99 lateness < 1 s,
RSS < 300 MiB.

SUPERSEDED by bench_peer.py (issue 15): this measures the cheapest tick (no metrics, the
kubernetes provider), and the controller's lateness histogram counts only timed ticks, from the
end of the previous tick (ticks woken by events and the interval's drift are not in it). The
figures are printed with that caveat; use bench_peer for the 1,000-canary targets.

The controller runs limited to the benchmark's namespace (``--namespace``). The sandbox is the
running one in ``--sandbox-dir`` (neither started nor stopped here), else GITCANARY_SANDBOX_DIR,
else one started in a temporary directory.

Usage: .venv/bin/python bench/bench_scale.py [--canaries 100] [--window 60] [--sandbox-dir D]
[--smoke]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench_support import delete_namespace, release  # noqa: E402

from gitcanary_sandbox import environment, processes  # noqa: E402
from gitcanary_sandbox.client import SandboxClient  # noqa: E402
from tests.builders import canary, deployment  # noqa: E402

CANARIES = ("canaries.gitcanary.io",)
NS = f"bench-scale-{uuid.uuid4().hex[:6]}"


def _histogram(metrics: str, name: str) -> dict[float, float]:
    out: dict[float, float] = {}
    for line in metrics.splitlines():
        if line.startswith(f"{name}_bucket{{"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            out[float("inf") if le == "+Inf" else float(le)] = float(line.rsplit(" ", 1)[1])
    return out


def _quantile(buckets: dict[float, float], q: float) -> float:
    total = buckets.get(float("inf"), 0.0)
    if total <= 0:
        return float("nan")
    for le in sorted(buckets):
        if buckets[le] >= q * total:
            return le
    return float("inf")


def _delta(after: dict[float, float], before: dict[float, float]) -> dict[float, float]:
    return {k: v - before.get(k, 0.0) for k, v in after.items()}


def _apply_all(client: SandboxClient, items: list[dict[str, object]]) -> None:
    for start in range(0, len(items), 200):
        doc = {"apiVersion": "v1", "kind": "List", "items": items[start : start + 200]}
        client.kubectl("apply", "-f", "-", stdin=json.dumps(doc), timeout=600)


def _phases(client: SandboxClient) -> dict[str, int]:
    items = json.loads(client.kubectl("get", "canaries.gitcanary.io", "-n", NS, "-o", "json", timeout=300))[
        "items"
    ]
    counts: dict[str, int] = {}
    for item in items:
        phase = (item.get("status") or {}).get("phase", "")
        counts[phase] = counts.get(phase, 0) + 1
    return counts


def _wait_phase(client: SandboxClient, phase: str, n: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while (counts := _phases(client)).get(phase, 0) < n:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {counts} after {timeout}s waiting for {n} {phase}")
        time.sleep(5)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--canaries", type=int, default=100)
    parser.add_argument("--window", type=float, default=60.0, help="seconds observed")
    parser.add_argument("--sandbox-dir", type=Path, help="a running sandbox's directory")
    parser.add_argument("--smoke", action="store_true", help="5 canaries, a 12 s window")
    args = parser.parse_args(argv)
    n, window = (5, 12.0) if args.smoke else (args.canaries, args.window)
    owned = args.sandbox_dir is None and not os.environ.get("GITCANARY_SANDBOX_DIR")
    if args.sandbox_dir is not None:
        state = environment.SandboxState.load(args.sandbox_dir)
        if state is None:
            raise SystemExit(f"no sandbox state in {args.sandbox_dir}")
        client = SandboxClient(state)
    else:
        base = Path(os.environ.get("GITCANARY_SANDBOX_DIR") or tempfile.mkdtemp(prefix="gitcanary-scale-"))
        client = SandboxClient(environment.up(base, progress=lambda m: None))
    client.kubectl("create", "namespace", NS)
    names = [f"app-{i:04d}" for i in range(n)]
    _apply_all(
        client, [deployment(NS, name, "ghcr.io/stefanprodan/podinfo:6.0.0", replicas=1) for name in names]
    )
    _apply_all(client, [canary(NS, name, iterations=1000, template=None) for name in names])
    health, metrics_port = processes.free_port(), processes.free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "controller.cli.main",
            "run",
            f"--kubeconfig={client.kubeconfig}",
            f"--health=http://127.0.0.1:{health}/healthz",
            f"--metrics-addr=127.0.0.1:{metrics_port}",
            f"--namespace={NS}",
        ],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    try:
        _wait_phase(client, "Initialized", n, 60 + n * 0.5)
        for start in range(0, n, 100):
            chunk = names[start : start + 100]
            client.kubectl(
                "set",
                "image",
                "-n",
                NS,
                *[f"deployment/{c}" for c in chunk],
                "podinfod=ghcr.io/stefanprodan/podinfo:6.0.1",
                timeout=300,
            )
        _wait_phase(client, "Progressing", n, 60 + n * 0.5)
        before = urllib.request.urlopen(url, timeout=10).read().decode()
        time.sleep(window)
        after = urllib.request.urlopen(url, timeout=10).read().decode()
        lateness = _delta(
            _histogram(after, "gitcanary_tick_lateness_seconds"),
            _histogram(before, "gitcanary_tick_lateness_seconds"),
        )
        duration = _delta(
            _histogram(after, "gitcanary_tick_duration_seconds"),
            _histogram(before, "gitcanary_tick_duration_seconds"),
        )
        status = Path(f"/proc/{proc.pid}/status").read_text()
        hwm = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")) / 1024
        rss = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")) / 1024
        ticks = lateness.get(float("inf"), 0.0)
        print(
            f"scale: {n} progressing canaries at a 10s interval, {window:.0f}s window, {ticks:.0f} timed ticks "
            f"({ticks / window:.1f}/s)"
        )
        print(
            f"  tick lateness (bucket upper bounds): p50 <= {_quantile(lateness, 0.5)} s, "
            f"p99 <= {_quantile(lateness, 0.99)} s (target p99 < 1 s; timed ticks only, from the end of "
            "the previous tick: woken ticks and interval drift are not counted, see bench_peer)"
        )
        print(f"  tick duration: p50 <= {_quantile(duration, 0.5)} s, p99 <= {_quantile(duration, 0.99)} s")
        print(f"  controller RSS {rss:.0f} MiB, peak {hwm:.0f} MiB (target < 300 MiB)")
    finally:
        release(client, NS, CANARIES, timeout_s=60 + n)
        proc.terminate()
        proc.wait(timeout=30)
        delete_namespace(client, NS, CANARIES)
        if owned:
            environment.down(base, quiet=True)
    return 0 if ticks > 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
