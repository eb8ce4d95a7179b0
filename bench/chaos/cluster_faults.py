"""Cluster faults: the apiserver, etcd, Prometheus and Flux go away under running analyses.

On a sandbox of the campaign's own (it restarts the apiserver and etcd: never a shared one), N
healthy Canaries analyse one revision after another (a new podinfo tag whenever one finishes) and
write back to one repository on a smart-HTTP remote through one ``gitcanary run``. Their
MetricTemplates, and ``--metrics-server``, point at a delaying reverse proxy in front of the
sandbox's Prometheus. The faults, in turn, each followed by a healthy pause:

- ``apiserver``: kube-apiserver stopped for ``--down`` seconds, then started again;
- ``etcd``: etcd stopped for ``--down`` seconds (the apiserver stays up and fails), then started;
- ``prom-down``: the sandbox's Prometheus stopped for ``--prom`` seconds (connections refused);
- ``prom-slow``: the proxy answers after 10 s for ``--prom`` seconds (the provider's deadline is 5 s);
- ``flux``: the Flux controllers (source, kustomize, helm, image reflector and automation)
  stopped and started again while the GitRepositories they serve take the write-backs (a sandbox
  without Flux skips this one and says so).

Invariants (exit status 1 when one is violated):
- no crash loop: the controller process never exits (it is started again if it does, and counted);
  the Python tracebacks in its log are counted and printed;
- after the apiserver (or etcd) is back (from the first read the apiserver serves again), every
  Canary the controller had work for (an analysis under way or a new revision set) ticks again
  within one interval + ``--slack``: the first sign of a tick is its first ``controller.reconcile``
  INFO line in the controller's log or its next analysis step in the status, whichever comes first
  (the step alone is printed too: a tick may halt, waiting for the cluster to catch up); an outage
  that finds no such Canary is a violation too (the invariant went untested);
- a missing metric is an inconclusive check, and under the default ``onInconclusive: count`` it
  counts toward the threshold: while Prometheus is down or slow, ``inconclusiveChecks`` grows and
  ``failedChecks`` is never below it; the Events name the cause (``unreachable``, ``timeout``);
- no decision taken twice: for each revision exactly one write-back block in ``git log`` (result
  ``promoted``, or ``inconclusive`` when the outages reached the threshold), each intent id in one
  commit, no more decision Events than decisions, nothing left pending;
- analyses never stall outside the apiserver/etcd outages: at most ``--max-gap`` seconds between
  two steps of a Progressing Canary;
- after the Flux restart, every GitRepository serves the remote's head again.

Usage: .venv/bin/python bench/chaos/cluster_faults.py [--canaries 20] [--down 30] [--prom 30]
           [--sandbox-dir D] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from chaos_fleet import CANARY_API, GitServer, Obj, Replica, apply, canary_objects, seed_fleet
from cluster_support import (
    ControlPlane,
    DelayingProxy,
    first_ticks,
    flux_serves_head,
    point_templates_at,
    private_sandbox,
    release_fleet,
    tracebacks,
    verify,
)
from kill_campaign import TERMINAL, Canary, launch

from gitcanary_sandbox import flux_binaries
from gitcanary_sandbox.client import SandboxClient

INTERVAL_S = 10.0
SLOW_S = 10.0
POLL_TIMEOUT_S = 8.0
RESUME_WAIT_S = 90.0  # past kopf's 60 s daemon backoff: a late resumption is measured, not cut off


class Driver:
    """Keeps revisions coming; watches steps, resumption, inconclusive counts; survives outages."""

    def __init__(self, sandbox: SandboxClient, prefix: str, fleet: list[Canary], replica: Replica) -> None:
        self.sandbox, self.prefix, self.fleet, self.replica = sandbox, prefix, fleet, replica
        self.statuses: dict[str, Obj] = {}
        self.launching, self.phase = True, "healthy"
        self.exits = 0
        self.steps: dict[str, tuple[object, int, float]] = {}
        self.gaps: list[tuple[float, str, str]] = []
        self.waiting: dict[str, tuple[object, float, str]] = {}  # ns -> (step key, back at, fault)
        self.resumed: list[tuple[float, str, str]] = []
        self.serving_after: dict[str, float] = {}  # fault -> seconds from the part's restart to a read served
        self.outages: list[tuple[str, float, list[str]]] = []  # (fault, back at wall time, Progressing)
        self.inconclusive: Counter[str] = Counter()  # fault -> most inconclusive checks seen at once
        self.uncounted = 0  # polls where failedChecks < inconclusiveChecks (count policy broken)
        self.failed_polls = 0

    @staticmethod
    def key(s: Obj) -> tuple[object, ...]:
        return (s.get("lastAppliedSpec"), s.get("phase"), s.get("iterations"), s.get("failedChecks"))

    def poll(self) -> bool:
        if not self.replica.alive():
            self.exits += 1
            self.replica.start()
        try:
            items = json.loads(
                self.sandbox.kubectl("get", CANARY_API, "-A", "-o", "json", timeout=POLL_TIMEOUT_S)
            )
            self.statuses = {
                c["metadata"]["namespace"]: c.get("status") or {}
                for c in items["items"]
                if c["metadata"]["namespace"].startswith(self.prefix + "-")
            }
        except (RuntimeError, ValueError, OSError, subprocess.SubprocessError):  # the apiserver is away
            self.failed_polls += 1
            return False
        now = time.monotonic()
        for ns, (before, back, fault) in list(self.waiting.items()):
            if self.key(self.statuses.get(ns, {})) != before:
                self.resumed.append((now - back, ns, fault))
                del self.waiting[ns]
                self.steps.pop(ns, None)  # its gaps count again from its first step after the outage
        incon = 0
        for c in self.fleet:
            s = self.statuses.get(c.ns, {})
            if not c.done and s.get("lastAppliedSpec") != c.before and s.get("phase") in TERMINAL:
                c.done = True
            if c.done and self.launching:
                try:
                    launch(self.sandbox, c, s)
                except (RuntimeError, subprocess.SubprocessError):  # away again: launched next poll
                    return True
            if s.get("phase") == "Progressing":
                n = int(s.get("inconclusiveChecks") or 0)
                incon += n
                self.uncounted += int(s.get("failedChecks") or 0) < n
            self._step(c.ns, s, now)
        self.inconclusive[self.phase] = max(self.inconclusive[self.phase], incon)
        return True

    def _step(self, ns: str, s: Obj, now: float) -> None:
        if ns in self.waiting:
            return  # not resumed yet after an outage: measured as its resumption, not as a gap
        steps = int(s.get("iterations") or 0) + int(s.get("failedChecks") or 0)
        revision, seen = s.get("lastAppliedSpec"), self.steps.get(ns)
        if s.get("phase") != "Progressing":
            self.steps.pop(ns, None)
        elif seen is None or seen[0] != revision or steps != seen[1]:
            if seen is not None and seen[0] == revision:
                self.gaps.append((now - seen[2], ns, self.phase))
            self.steps[ns] = (revision, steps, now)

    def longest_open_gap(self) -> None:
        now = time.monotonic()
        for ns, (_, _, since) in self.steps.items():
            self.gaps.append((now - since, ns, self.phase + " (open)"))

    def run_for(self, seconds: float) -> None:
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            self.poll()
            time.sleep(0.5)

    def outage(
        self, stop: Callable[[], None], start: Callable[[], None], seconds: float, limit: float
    ) -> None:
        """Stop a control-plane part, wait, start it; then measure each Canary's resumption."""
        while not self.poll():
            time.sleep(0.5)
        # Every Canary the controller has work for: an analysis under way, or a new revision set.
        progressing = [
            c.ns
            for c in self.fleet
            if not c.done or self.statuses.get(c.ns, {}).get("phase") not in (*TERMINAL, "Initialized", None)
        ]
        stop()
        self.run_for(seconds)
        start()
        started = time.monotonic()
        while not self.poll():  # "back" is when the apiserver serves reads again, not when the part runs
            time.sleep(0.25)
        back = time.monotonic()
        self.serving_after[self.phase] = back - started
        self.outages.append((self.phase, time.time(), progressing))
        self.steps.clear()  # no step was possible while it was away: gaps count from here
        self.waiting = {ns: (self.key(self.statuses.get(ns, {})), back, self.phase) for ns in progressing}
        while self.waiting and time.monotonic() - back < RESUME_WAIT_S:
            self.poll()
            time.sleep(0.25)
        for ns, (_, _, fault) in self.waiting.items():
            self.resumed.append((float("inf"), ns, fault))
        self.waiting = {}

    def pending(self) -> bool:
        return any((s.get("gitops") or {}).get("pending") for s in self.statuses.values())


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--canaries", type=int, default=20)
    parser.add_argument("--down", type=float, default=30, help="seconds the apiserver, then etcd, are away")
    parser.add_argument("--prom", type=float, default=30, help="seconds Prometheus is down, then slow")
    parser.add_argument("--pause", type=float, default=20, help="healthy seconds after each fault")
    parser.add_argument("--slack", type=float, default=5, help="polling allowance on 'within one interval'")
    parser.add_argument("--max-gap", type=float, default=2.5 * INTERVAL_S)
    parser.add_argument("--settle", type=float, default=300)
    parser.add_argument("--iterations", type=int, default=4, help="analysis steps per revision")
    parser.add_argument("--sandbox-dir", type=Path)
    parser.add_argument("--smoke", action="store_true", help="3 canaries, 2 iterations, 10-12 s per fault")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # cleanup runs in the finally blocks
    if args.smoke:
        args.canaries, args.down, args.prom, args.pause, args.settle = 3, 10, 12, 5, 150
        args.iterations = 2
    with private_sandbox(args.sandbox_dir, with_flux=True) as sandbox:
        return campaign(sandbox, args)


def campaign(sandbox: SandboxClient, args: argparse.Namespace) -> int:
    sandbox.require("crds")
    plane = ControlPlane(sandbox)
    prefix = f"cf-{uuid.uuid4().hex[:6]}"
    work = Path(tempfile.mkdtemp(prefix="gitcanary-clusterfaults-"))
    server = GitServer(work / "git", work / "git-http.log")
    fleet = [Canary(f"{prefix}-{i}", failing=False) for i in range(args.canaries)]
    names = [c.ns for c in fleet]
    seed_fleet(server, names, work)
    server.start()
    proxy = DelayingProxy(sandbox.state.prometheus_url)
    apply(sandbox, [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}} for n in names])
    objs: list[Obj] = []
    for c in fleet:
        sandbox.set_traffic(c.ns, "podinfo", rps=20, error_rate=0.0)
        objs += canary_objects(sandbox, c.ns, server, iterations=args.iterations, threshold=10)
    apply(sandbox, point_templates_at(objs, proxy.url))
    replica = Replica(
        0,
        work,
        (f"--kubeconfig={sandbox.kubeconfig}", f"--namespace={prefix}-*"),
        {"GITCANARY_METRICS_SERVER": proxy.url},
    )
    driver = Driver(sandbox, prefix, fleet, replica)
    limit = INTERVAL_S + args.slack
    flux_s = float("nan")
    started = time.monotonic()
    try:
        replica.start()
        deadline = time.monotonic() + 180
        driver.launching = False
        while not (
            len(driver.statuses) == len(fleet)
            and all(s.get("phase") == "Initialized" for s in driver.statuses.values())
        ):
            if time.monotonic() > deadline:
                raise SystemExit(f"canaries did not initialize: {driver.statuses}\n{replica.tail()}")
            driver.poll()
            time.sleep(1)
        query = f'count(sum by (destination_workload_namespace) (rate(istio_requests_total{{destination_workload_namespace=~"{prefix}-.*"}}[10s])) > 5)'
        sandbox.wait_prom_value(query, lambda v: v >= len(fleet), timeout=60)
        driver.launching = True
        driver.run_for(args.pause + INTERVAL_S)

        def fault(name: str, body: Callable[[], None]) -> None:
            driver.phase = name
            body()
            driver.longest_open_gap()
            driver.phase = "healthy"
            driver.run_for(args.pause)

        for part in ("kube-apiserver", "etcd"):
            fault(
                part,
                lambda p=part: driver.outage(lambda: plane.stop(p), lambda: plane.start(p), args.down, limit),
            )

        def prom_down() -> None:
            plane.stop("prometheus")
            driver.run_for(args.prom)
            plane.start("prometheus")

        def prom_slow() -> None:
            proxy.reset_counts()
            proxy.set_delay(SLOW_S)
            driver.run_for(args.prom)
            proxy.set_delay(0)

        fault("prom-down", prom_down)
        fault("prom-slow", prom_slow)
        slow_counts = proxy.counts()
        if plane.has_flux():

            def flux_restart() -> None:
                for name in flux_binaries.CONTROLLER_NAMES:
                    plane.stop(name)
                driver.run_for(args.pause)
                for name in flux_binaries.CONTROLLER_NAMES:
                    plane.start(name)
                    driver.poll()

            fault("flux", flux_restart)
        driver.launching = False
        settle_until = time.monotonic() + args.settle
        while time.monotonic() < settle_until and not (all(c.done for c in fleet) and not driver.pending()):
            driver.poll()
            time.sleep(0.5)
        driver.run_for(INTERVAL_S + 5)  # more than one interval: nothing may be decided twice afterwards
        found = verify(sandbox, server, fleet, driver.statuses)
        if plane.has_flux():
            flux_s = flux_serves_head(sandbox, names, server.head(), 120)
    finally:
        plane.restore()
        release_fleet(sandbox, names)
        replica.stop()
        proxy.close()
        server.stop()
    logs = sorted(work.glob("replica-0.run-*.log"))
    traces = tracebacks(logs)
    stepped = {(ns, fault): seconds for seconds, ns, fault in driver.resumed}
    ticked = []  # (seconds from back to the first sign of the Canary's tick: a log line or a step, ns, fault)
    for fault, back_wall, progressing in driver.outages:
        first = first_ticks(logs, back_wall)
        for ns in progressing:
            logged = first.get(ns, float("inf")) - back_wall
            ticked.append((min(logged, stepped.get((ns, fault), float("inf"))), ns, fault))
    resumes = {
        p: max((r[0] for r in ticked if r[2] == p), default=float("nan")) for p in ("kube-apiserver", "etcd")
    }
    steps = {
        p: max((r[0] for r in driver.resumed if r[2] == p), default=float("nan"))
        for p in ("kube-apiserver", "etcd")
    }
    late = [r for r in ticked if r[0] > limit]
    gaps = [g for g in driver.gaps if g[2] not in ("kube-apiserver", "etcd")]
    longest = max(gaps, default=(0.0, "-", "-"))
    stalls = [g for g in gaps if g[0] > args.max_gap]
    print(
        f"cluster faults: {len(fleet)} canaries, {found['decisions']} decisions, {time.monotonic() - started:.0f} s; "
        f"apiserver and etcd down {args.down:.0f} s each, Prometheus down {args.prom:.0f} s then slow ({SLOW_S:.0f} s answers) "
        f"{args.prom:.0f} s, Flux controllers {'restarted' if plane.has_flux() else 'not in this sandbox'}"
    )
    print(
        f"  controller exits {driver.exits}, tracebacks in its log {traces}, kubectl polls failed during outages {driver.failed_polls}"
    )
    print(
        "  analyses resumed (first tick: logged or a step) after the apiserver served again in (max over canaries): "
        + ", ".join(f"{p} {v:.1f} s" for p, v in resumes.items())
        + f"; limit {limit:.0f} s (interval {INTERVAL_S:.0f} s + {args.slack:.0f} s); late {len(late)}"
    )
    for seconds, ns, fault in late:
        print(f"  late: {ns} after {fault}: first tick {seconds:.1f} s after the apiserver served again")
    print(
        "  next analysis step seen in the status after it (max): "
        + ", ".join(f"{p} {v:.1f} s" for p, v in steps.items())
        + " (a tick may wait on the cluster: a primary rollout the Deployment controller has not caught up with)"
    )
    print(
        "  the apiserver served reads again after the restart in: "
        + ", ".join(f"{p} {v:.1f} s" for p, v in driver.serving_after.items())
    )
    print(
        f"  inconclusive checks at once: Prometheus down {driver.inconclusive['prom-down']}, slow {driver.inconclusive['prom-slow']}; "
        f"Events inconclusive (unreachable) {found['inconclusive Events (unreachable)']}, (timeout) {found['inconclusive Events (timeout)']}; "
        f"polls with failedChecks < inconclusiveChecks {driver.uncounted}"
    )
    print(
        f"  slow Prometheus: {slow_counts['requests']} queries, at most {slow_counts['most in flight']} in flight; "
        f"GitRepositories serving the head after the Flux restart in {flux_s:.1f} s"
    )
    print(
        f"  lost write-backs {found['lost write-backs']}, duplicated write-backs {found['duplicated write-backs']}, "
        f"wrong results {found['wrong results']} (promoted {found['result promoted']}, inconclusive {found['result inconclusive']}), "
        f"unfinished {found['unfinished']}, stuck {found['stuck (intents pending)']}, decision Events repeated {found['decision Events repeated']}"
    )
    print(
        f"  longest analysis gap outside the apiserver/etcd outages {longest[0]:.1f} s ({longest[1]}, during {longest[2]}; limit {args.max_gap:.0f} s), stalls {len(stalls)}"
    )
    checks = {
        "controller exits": driver.exits == 0,
        "late resumption": not late,
        "analysis stalls": not stalls,
        "inconclusive not counted": driver.uncounted == 0,
        "inconclusive not recorded (down)": driver.inconclusive["prom-down"] > 0
        and found["inconclusive Events (unreachable)"] > 0,
        "inconclusive not recorded (slow)": driver.inconclusive["prom-slow"] > 0
        and found["inconclusive Events (timeout)"] > 0,
        "Flux not serving the head": not (plane.has_flux() and flux_s == float("inf")),
        "resumption not measured": all(len(o[2]) > 0 for o in driver.outages) and len(driver.outages) == 2,
    }
    for key in ("lost write-backs", "duplicated write-backs", "wrong results", "unfinished"):
        checks[key] = found[key] == 0
    checks["stuck"] = found["stuck (intents pending)"] == 0
    checks["decision Events repeated"] = found["decision Events repeated"] == 0
    violated = [name for name, ok in checks.items() if not ok]
    print(f"  violations: {', '.join(violated) or 'none'}")
    print(f"  verdict: {'ok' if not violated else 'FAILED'} (work dir {work})")
    return 0 if not violated else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
