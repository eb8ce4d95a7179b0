"""Flagger v1.44.0 and gitcanary side by side: the same workload, one sandbox, each alone in its phase.

For each controller and each N, a phase of its own: a fresh namespace with N Deployments (podinfo,
1 replica, on KWOK nodes) and N Canaries of that controller's API group (kubernetes provider, a
``--interval`` analysis interval, ``--iterations`` iterations, no metrics); the controller is
started limited to that namespace, every Canary reaches Initialized, then every Deployment's
image is changed at once and the benchmark waits until every Canary has Succeeded. Measured over
that burst (from the first image change to the last Succeeded):

- reaction: image change (the API server's answer to that Deployment's PATCH, from kubectl's
  ``-v=6`` log) -> the Canary's first ``Progressing`` (p50, p99);
- time to Succeeded (p50, max), beside the same rollout with N=1 (the uncontended time);
- controller CPU seconds per rollout (user+system from /proc) and peak RSS (VmHWM);
- apiserver requests per rollout: the delta of every ``apiserver_request_total`` series over the
  burst, less the requests of the benchmark's own image changes (kubectl ``-v=6`` logs each one)
  and less the sandbox's background rate (sampled for ``--background-window`` s before the
  controller starts) times the burst's length. What the rest of the sandbox does because of the
  rollouts (KWOK, the deployment controller) is counted for both controllers.

Only one controller runs at a time; the sandbox should be otherwise idle (its own
``--sandbox-dir``, or one started here). Not yet: a workload with two Prometheus metrics per
Canary, and N=1,000 figures (issue 15 item 1). Both controllers run with their defaults (Flagger:
``-mesh-provider=kubernetes``, its 10 s control loop).

Usage: ``.venv/bin/python bench/bench_peer.py [--canaries 20] [--interval 10s] [--iterations 3]
[--sandbox-dir D]``; ``--smoke``: N=2, 2 s interval, 1 iteration, no N=1 phase; ``--only gitcanary``
(or ``flagger``): one controller's phases, to compare with a recorded run of the other;
``--no-baseline``: no N=1 phase; ``--profile F.prof``: gitcanary's N>1 rollout burst alone under
cProfile (``bench/profiled_controller.py``; its CPU figure includes the profiler's cost).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from bench_support import delete_namespace, release
from peer_harness import (
    GROUPS,
    PhaseWatch,
    apiserver_requests,
    cpu_seconds,
    peak_rss_mib,
    start_controller,
)

from gitcanary_sandbox import environment
from gitcanary_sandbox.binaries import kube_bin_dir
from gitcanary_sandbox.client import SandboxClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.builders import canary, deployment

IMAGE = "ghcr.io/stefanprodan/podinfo"
CHUNK = 100  # Deployments per kubectl call


@dataclass
class Phase:
    controller: str
    n: int
    reaction: list[float]
    succeeded: list[float]
    cpu_s: float
    rss_mib: float
    requests: float
    background: float  # apiserver requests/s with no controller running, subtracted


def background_rate(client: SandboxClient, window: float) -> float:
    """apiserver requests/s while no controller runs (KWOK, the sandbox's own controllers)."""
    before, started = apiserver_requests(client), time.monotonic()
    time.sleep(window)
    return (apiserver_requests(client) - before) / (time.monotonic() - started)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def apply_all(client: SandboxClient, items: list[dict[str, object]]) -> None:
    for start in range(0, len(items), CHUNK):
        doc = {"apiVersion": "v1", "kind": "List", "items": items[start : start + CHUNK]}
        client.kubectl("apply", "-f", "-", stdin=json.dumps(doc), timeout=600)


# kubectl 1.33 at -v=6: ... round_trippers.go:632] "Response" verb="GET" url="https://..." status="200 OK"
REQUEST_LINE = re.compile(r'"Response" verb="[A-Z]+" url="https?://')
# the same line for one Deployment's image change, with klog's local time: I1205 12:39:41.257817
PATCHED_LINE = re.compile(
    r'^I(\d\d)(\d\d) (\d\d):(\d\d):(\d\d\.\d+) .*"Response" verb="PATCH" '
    r'url="https?://[^"]*/deployments/([^"/?]+)[^"]*" status="2',
    re.MULTILINE,
)


def patched_at(log: str, names: list[str]) -> dict[str, float]:
    """When the API server answered each Deployment's image change (kubectl's own log), on the
    monotonic clock: kubectl changes them one after the other, so the time it was started at is
    not when the last one changed (about 2 s later at N=20 on a loaded machine)."""
    offset = time.time() - time.monotonic()
    today = dt.datetime.now()
    out = {}
    for month, day, hour, minute, second, name in PATCHED_LINE.findall(log):
        whole, _, fraction = second.partition(".")
        at = today.replace(
            month=int(month),
            day=int(day),
            hour=int(hour),
            minute=int(minute),
            second=int(whole),
            microsecond=int(fraction[:6].ljust(6, "0")),
        )
        out[name] = at.timestamp() - offset
    missing = sorted(set(names) - set(out))
    if missing:
        raise RuntimeError(
            f"kubectl -v=6 logged no PATCH answer for {len(missing)} Deployments, e.g. {missing[:3]}"
        )
    return out


def set_images(client: SandboxClient, ns: str, names: list[str], tag: str) -> tuple[dict[str, float], int]:
    """Change every Deployment's image; return when the API server took each one's change, and
    how many requests kubectl made for it."""
    sent: dict[str, float] = {}
    requests = 0
    for start in range(0, len(names), CHUNK):
        chunk = names[start : start + CHUNK]
        at = time.monotonic()
        done = subprocess.run(
            [
                str(kube_bin_dir() / "kubectl"),
                f"--kubeconfig={client.kubeconfig}",
                "-v=6",
                "set",
                "image",
                "-n",
                ns,
                *[f"deployment/{n}" for n in chunk],
                f"podinfod={IMAGE}:{tag}",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            raise RuntimeError(f"kubectl set image: {done.stderr[-2000:]}")
        requests += len(REQUEST_LINE.findall(done.stderr))
        changed = patched_at(done.stderr, chunk)
        if min(changed.values()) < at - 1.0:  # klog's clock against ours: a second is too far
            raise RuntimeError("kubectl's log times are before the command started")
        sent.update(changed)
    return sent, requests


def run_phase(client: SandboxClient, controller: str, n: int, args: argparse.Namespace, work: Path) -> Phase:
    ns = f"peer-{controller}-{n}-{uuid.uuid4().hex[:6]}"
    group = GROUPS[controller]
    names = [f"app-{i:04d}" for i in range(n)]
    client.kubectl("create", "namespace", ns)
    watch = PhaseWatch(client, group, ns)
    proc = None
    try:
        apply_all(client, [deployment(ns, name, f"{IMAGE}:6.0.0", replicas=1) for name in names])
        canaries = []
        for name in names:
            obj = canary(ns, name, iterations=args.iterations, template=None, interval=args.interval)
            obj["apiVersion"] = f"{group}/v1beta1"
            obj["spec"]["provider"] = "kubernetes"
            canaries.append(obj)
        client.kubectl(
            "wait",
            "--for=condition=Available",
            "deployment",
            "--all",
            "-n",
            ns,
            f"--timeout={60 + n}s",
            timeout=90 + n,
        )
        apply_all(client, canaries)
        background = background_rate(client, args.background_window)
        watch.start()
        profile = args.profile if controller == "gitcanary" and n != 1 else None
        proc = start_controller(controller, client, ns, work, profile=profile)

        def describe() -> str:
            return f"{controller} log:\n{proc.log.read_text(errors='replace')[-3000:] if proc else ''}"

        watch.wait("Initialized", names, 120 + n, describe)
        watch.mark()
        if profile is not None:
            os.kill(proc.proc.pid, signal.SIGUSR1)  # profile the burst alone
        cpu0, req0, t0 = cpu_seconds(proc.proc.pid), apiserver_requests(client), time.monotonic()
        sent, harness = set_images(client, ns, names, "6.0.1")
        if harness < n:
            raise RuntimeError(f"kubectl -v=6 logged {harness} requests for {n} image changes")
        progressing = watch.wait("Progressing", names, 60 + n, describe)
        done = watch.wait("Succeeded", names, args.rollout_timeout + 2 * n, describe)
        cpu = cpu_seconds(proc.proc.pid) - cpu0
        if profile is not None:
            os.kill(proc.proc.pid, signal.SIGUSR2)  # the stats are written now
            written = time.monotonic() + 30
            while not args.profile.exists() and time.monotonic() < written:
                time.sleep(0.2)
        requests = apiserver_requests(client) - req0 - harness - background * (time.monotonic() - t0)
        return Phase(
            controller,
            n,
            reaction=[progressing[name] - sent[name] for name in names],
            succeeded=[done[name] - sent[name] for name in names],
            cpu_s=cpu,
            rss_mib=peak_rss_mib(proc.proc.pid),
            requests=requests,
            background=background,
        )
    finally:
        watch.stop()
        if proc is not None:
            release(client, ns, (f"canaries.{group}",), timeout_s=60 + n)
            proc.stop()
        delete_namespace(client, ns, (f"canaries.{group}",))
        # the next phase starts on a quiet sandbox: this namespace's deletion is over
        client.kubectl("wait", "--for=delete", f"namespace/{ns}", "--timeout=180s", check=False, timeout=200)


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b > 0 else "-"


def table(phases: dict[tuple[str, int], Phase], n: int, baseline: bool) -> list[str]:
    if ("flagger", n) not in phases or ("gitcanary", n) not in phases:
        return alone([p for p in phases.values() if p.n == n])
    f, g = phases[("flagger", n)], phases[("gitcanary", n)]
    rows = [
        ("reaction p50 (s)", statistics.median(f.reaction), statistics.median(g.reaction)),
        ("reaction p99 (s)", pct(f.reaction, 0.99), pct(g.reaction, 0.99)),
        ("time to Succeeded p50 (s)", statistics.median(f.succeeded), statistics.median(g.succeeded)),
        ("time to Succeeded max (s)", max(f.succeeded), max(g.succeeded)),
    ]
    if baseline:
        f1, g1 = phases[("flagger", 1)], phases[("gitcanary", 1)]
        rows.append(("uncontended (N=1) to Succeeded (s)", f1.succeeded[0], g1.succeeded[0]))
    rows += [
        ("controller CPU per rollout (s)", f.cpu_s / n, g.cpu_s / n),
        ("peak RSS (MiB)", f.rss_mib, g.rss_mib),
        ("apiserver requests per rollout", f.requests / n, g.requests / n),
        ("(background subtracted, requests/s)", f.background, g.background),
    ]
    out = [f"N={n}", f"| {'':<36} | {'Flagger 1.44.0':>14} | {'gitcanary':>10} | {'gitcanary/Flagger':>17} |"]
    out.append(f"|{'-' * 38}|{'-' * 16}:|{'-' * 11}:|{'-' * 18}:|")
    for label, fv, gv in rows:
        out.append(f"| {label:<36} | {fv:>14.3f} | {gv:>10.3f} | {ratio(gv, fv):>17} |")
    return out


def alone(phases: list[Phase]) -> list[str]:
    """One controller's figures (``--only``): compare them with a recorded run of the other."""
    out = []
    for p in phases:
        out += [
            f"{p.controller} N={p.n}",
            f"| reaction p50 / p99 (s) | {statistics.median(p.reaction):.3f} / {pct(p.reaction, 0.99):.3f} |",
            f"| time to Succeeded p50 / max (s) | {statistics.median(p.succeeded):.1f} / {max(p.succeeded):.1f} |",
            f"| controller CPU per rollout (s) | {p.cpu_s / p.n:.3f} |",
            f"| peak RSS (MiB) | {p.rss_mib:.0f} |",
            f"| apiserver requests per rollout | {p.requests / p.n:.1f} |",
            f"| (background subtracted, requests/s) | {p.background:.1f} |",
        ]
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--canaries", type=int, nargs="+", default=[20], help="N values (e.g. 20 200)")
    parser.add_argument("--interval", default="10s")
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--rollout-timeout", type=float, default=600.0, help="seconds, plus 2 s per canary")
    parser.add_argument("--sandbox-dir", type=Path, help="a running, otherwise idle sandbox")
    parser.add_argument(
        "--background-window", type=float, default=10.0, help="seconds to sample idle traffic"
    )
    parser.add_argument("--smoke", action="store_true", help="N=2, 2s interval, 1 iteration, no N=1 phase")
    parser.add_argument(
        "--only", choices=("flagger", "gitcanary"), help="run one controller's phases (no ratio column)"
    )
    parser.add_argument("--no-baseline", action="store_true", help="skip the N=1 (uncontended) phases")
    parser.add_argument(
        "--profile",
        type=Path,
        help="profile gitcanary's N>1 rollout burst (cProfile), its stats written here",
    )
    args = parser.parse_args(argv)
    if args.smoke:
        args.canaries, args.interval, args.iterations, args.rollout_timeout = [2], "2s", 1, 120.0
        args.background_window = 3.0
    counts = sorted(set(args.canaries) | (set() if args.smoke or args.no_baseline else {1}))
    controllers = (args.only,) if args.only else ("flagger", "gitcanary")
    owned = args.sandbox_dir is None
    if args.sandbox_dir is not None:
        state = environment.SandboxState.load(args.sandbox_dir)
        if state is None:
            raise SystemExit(f"no sandbox state in {args.sandbox_dir}")
    else:
        base = Path(tempfile.mkdtemp(prefix="gitcanary-peer-"))
        state = environment.up(base, progress=lambda m: None)
    client = SandboxClient(state)
    client.require("crds")
    phases: dict[tuple[str, int], Phase] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="gitcanary-peer-logs-") as tmp:
            for n in counts:
                for controller in controllers:
                    started = time.monotonic()
                    phases[(controller, n)] = run_phase(client, controller, n, args, Path(tmp))
                    print(
                        f"phase {controller} N={n}: {time.monotonic() - started:.0f} s",
                        file=sys.stderr,
                        flush=True,
                    )
    finally:
        if owned:
            environment.down(base, quiet=True)
    print(
        f"peer benchmark: kubernetes provider, {args.interval} interval, {args.iterations} iterations, no metrics; "
        f"every image changed at once; each controller alone in its phase ({os.cpu_count()} CPUs)"
    )
    for n in args.canaries:
        print("\n".join(table(phases, n, baseline=not (args.smoke or args.no_baseline))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
