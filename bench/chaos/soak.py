"""Soak: a simulated day of steady rollouts, the controller's memory and descriptors sampled.

Scale: the analysis interval is the shortest the controller runs (10 s, as Flagger) and stands
for a production interval of one minute, so time runs 6x: 24 simulated hours are 4 real hours
(``--hours`` sets the simulated length). On a sandbox of the campaign's own, M Canaries (half of
them failing) analyse one revision after another, without pause (a new podinfo tag as soon as the
last one is decided: about one rollout per canary per 4 intervals), and write back to one
repository on a smart-HTTP remote through one ``gitcanary run``.

Every ``--sample`` real seconds: the controller's RSS (``/proc/<pid>/status`` VmRSS) and open file
descriptors (``/proc/<pid>/fd``), and the size of each Canary's JSON (status included). The first
``--warmup`` fraction of the run is the warm-up (imports, caches, the first clone, the first
rollout of every Canary). The bounds, checked on what follows it:

- RSS: the median of the last quarter is at most ``--rss-bound`` MiB (default 32) above the median
  of the first quarter after the warm-up;
- descriptors: the most in the last quarter is at most ``--fd-bound`` (default 8) above the most
  in the first quarter after the warm-up;
- a Canary object never exceeds 256 KiB (etcd's limit is 1.5 MiB), and nothing stays pending.

It also prints the RSS slope (least squares over the samples after the warm-up, in MiB per
simulated hour), the clones in the git cache, and the exactly-once audit of the kill campaign (one
write-back per revision, no decision announced twice). Exit status 1 when a bound or the audit
fails, or the controller exits.

Usage: .venv/bin/python bench/chaos/soak.py [--hours 24] [--canaries 10] [--sandbox-dir D] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from chaos_fleet import GitServer, Replica, apply, canaries, canary_objects, seed_fleet
from cluster_support import ProcSample, private_sandbox, proc_sample, release_fleet, tracebacks
from kill_campaign import TERMINAL, Canary, launch, verify

from gitcanary_sandbox.client import SandboxClient

SCALE = 6.0  # 10 s real interval for a 1-minute production interval
MAX_OBJECT_BYTES = 256 * 1024


def slope_per_hour(samples: list[ProcSample]) -> float:
    """Least-squares RSS slope in MiB per simulated hour."""
    if len(samples) < 3:
        return float("nan")
    xs = [s.at for s in samples]
    ys = [s.rss_kib / 1024 for s in samples]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    var = sum((x - mx) ** 2 for x in xs)
    if var == 0:
        return float("nan")
    per_s = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var
    return per_s * 3600 / SCALE


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--hours", type=float, default=24.0, help="simulated hours (real = hours / 6)")
    parser.add_argument("--canaries", type=int, default=10)
    parser.add_argument("--sample", type=float, default=10.0, help="real seconds between samples")
    parser.add_argument(
        "--warmup", type=float, default=0.1, help="fraction of the run before the bounds apply"
    )
    parser.add_argument("--rss-bound", type=float, default=32.0, help="MiB")
    parser.add_argument("--fd-bound", type=int, default=8)
    parser.add_argument("--settle", type=float, default=240)
    parser.add_argument("--sandbox-dir", type=Path)
    parser.add_argument("--smoke", action="store_true", help="3 canaries, 0.15 simulated hour (90 s)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # cleanup runs in the finally blocks
    if args.smoke:
        args.canaries, args.hours, args.sample, args.warmup, args.settle = 3, 0.15, 3.0, 0.3, 150
    with private_sandbox(args.sandbox_dir, with_flux=False) as sandbox:
        return soak(sandbox, args)


def soak(sandbox: SandboxClient, args: argparse.Namespace) -> int:
    sandbox.require("crds")
    prefix = f"sk-{uuid.uuid4().hex[:6]}"
    work = Path(tempfile.mkdtemp(prefix="gitcanary-soak-"))
    server = GitServer(work / "git", work / "git-http.log")
    names = [f"{prefix}-{i}" for i in range(args.canaries)]
    fleet = [Canary(ns, failing=i % 2 == 1) for i, ns in enumerate(names)]
    seed_fleet(server, names, work)
    server.start()
    apply(sandbox, [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}} for n in names])
    objs = []
    for c in fleet:
        sandbox.set_traffic(c.ns, "podinfo", rps=20, error_rate=0.5 if c.failing else 0.0)
        objs += canary_objects(sandbox, c.ns, server, iterations=2)
    apply(sandbox, objs)
    replica = Replica(
        0,
        work,
        (f"--kubeconfig={sandbox.kubeconfig}", f"--namespace={prefix}-*"),
        {"GITCANARY_METRICS_SERVER": sandbox.state.prometheus_url},
    )
    samples: list[ProcSample] = []
    biggest, exits, real_s = 0, 0, args.hours * 3600 / SCALE
    started = time.monotonic()
    try:
        replica.start()
        statuses = {}
        deadline = time.monotonic() + 180
        while not (
            len(statuses) == len(fleet) and all(s.get("phase") == "Initialized" for s in statuses.values())
        ):
            if time.monotonic() > deadline:
                raise SystemExit(f"canaries did not initialize: {statuses}\n{replica.tail()}")
            time.sleep(1)
            statuses = canaries(sandbox, prefix + "-")
        query = f'count(sum by (destination_workload_namespace) (rate(istio_requests_total{{destination_workload_namespace=~"{prefix}-.*"}}[10s])) > 5)'
        sandbox.wait_prom_value(query, lambda v: v >= len(fleet), timeout=60)
        began = time.monotonic()
        next_sample = began
        launching = True
        while True:
            now = time.monotonic()
            launching = now - began < real_s
            if replica.proc is None or not replica.alive():
                exits += 1
                replica.start()
            items = json.loads(
                sandbox.kubectl("get", "canaries.gitcanary.io", "-A", "-o", "json", timeout=60)
            )["items"]
            mine = [i for i in items if i["metadata"]["namespace"].startswith(prefix + "-")]
            biggest = max([biggest, *(len(json.dumps(i)) for i in mine)])
            statuses = {i["metadata"]["namespace"]: i.get("status") or {} for i in mine}
            for c in fleet:
                s = statuses[c.ns]
                if not c.done and s.get("lastAppliedSpec") != c.before and s.get("phase") in TERMINAL:
                    c.done = True
                if c.done and launching:
                    launch(sandbox, c, s)
            if launching and now >= next_sample and replica.proc is not None:
                samples.append(proc_sample(replica.proc.pid))
                next_sample += args.sample
            if not launching:
                quiet = all(c.done for c in fleet) and not any(
                    (s.get("gitops") or {}).get("pending") for s in statuses.values()
                )
                if quiet or now - began > real_s + args.settle:
                    break
            time.sleep(0.5)
        time.sleep(12)  # more than one interval: nothing may be decided twice afterwards
        statuses = canaries(sandbox, prefix + "-")
        found = verify(sandbox, server, fleet, statuses)
        cache = work / "cache-0"
        clones = [p for p in cache.iterdir() if p.is_dir()] if cache.exists() else []
    finally:
        release_fleet(sandbox, names)
        replica.stop()
        server.stop()
    after = [s for s in samples if s.at - samples[0].at >= args.warmup * real_s] if samples else []
    quarter = max(1, len(after) // 4)
    first, last = after[:quarter], after[-quarter:]
    rss_growth = (
        (statistics.median(s.rss_kib for s in last) - statistics.median(s.rss_kib for s in first)) / 1024
        if after
        else float("nan")
    )
    fd_growth = max(s.fds for s in last) - max(s.fds for s in first) if after else 0
    took = time.monotonic() - started
    print(
        f"soak: {args.hours:g} simulated hours ({real_s:.0f} s real at {SCALE:g}x: a 10 s interval for 1 minute), "
        f"{len(fleet)} canaries ({sum(c.failing for c in fleet)} failing), {found['decisions']} decisions, {took:.0f} s"
    )
    if samples:
        print(
            f"  RSS {samples[0].rss_kib / 1024:.1f} MiB at start, {max(s.rss_kib for s in samples) / 1024:.1f} MiB peak, "
            f"{samples[-1].rss_kib / 1024:.1f} MiB at end; open descriptors {samples[0].fds} at start, "
            f"{max(s.fds for s in samples)} peak, {samples[-1].fds} at end ({len(samples)} samples)"
        )
    print(
        f"  after the warm-up ({args.warmup:.0%}): RSS growth {rss_growth:.1f} MiB (bound {args.rss_bound:g}), "
        f"slope {slope_per_hour(after):.2f} MiB per simulated hour; descriptor growth {fd_growth} (bound {args.fd_bound})"
    )
    print(
        f"  largest Canary object {biggest / 1024:.1f} KiB (bound {MAX_OBJECT_BYTES // 1024}); clones in the git cache {len(clones)}; "
        f"controller exits {exits}; tracebacks {tracebacks(sorted(work.glob('replica-0.run-*.log')))}"
    )
    print(
        f"  lost write-backs {found['lost write-backs']}, duplicated write-backs {found['duplicated write-backs']}, "
        f"final-state mismatches {found['final-state mismatches']}, stuck {found['stuck (intents pending)']}, "
        f"decision Events repeated {found['decision Events repeated']}"
    )
    bad = (
        exits
        + (not after)
        + (rss_growth > args.rss_bound)
        + (fd_growth > args.fd_bound)
        + (biggest > MAX_OBJECT_BYTES)
    )
    bad += sum(
        found[k]
        for k in (
            "final-state mismatches",
            "lost write-backs",
            "duplicated write-backs",
            "stuck (intents pending)",
            "decision Events repeated",
        )
    )
    print(f"  verdict: {'ok' if bad == 0 else 'FAILED'} (work dir {work})")
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
