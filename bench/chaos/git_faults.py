"""Git faults: the remote down, rejecting pushes, hung and rewritten while decisions keep coming.

On the sandbox, N Canaries (half of them failing) analyse one revision after another and write
back to one repository on a smart-HTTP remote (``git http-backend`` behind basic auth) through one
``gitcanary run``. The remote then goes through four faults in turn, each followed by a healthy
pause, while new revisions keep being analysed:

- ``down``: the server is stopped (connections refused) for ``--down`` seconds;
- ``reject``: a pre-receive hook declines half of the pushes at random for ``--reject`` seconds;
- ``hung``: a socket on the remote's port accepts TCP and never answers for ``--hung`` seconds;
- ``rewrite``: every 2-4 s for ``--rewrite`` seconds, another writer force-rewrites the branch
  tip (same tree, message and parent, a new commit id), so the controller's clone goes stale.
  The decisions keep their trailers: no Canary may get ``WriteBackLost=True`` from these.
- ``drop`` (once everything settled): the branch is reset to the parent of its tip, a decision
  commit; its Canary must get ``WriteBackLost=True`` naming the intent and exactly one
  ``DecisionCommitMissing`` Event, nothing may push the decision again; then the commit is put back
  and the condition must turn False (``DecisionCommitFound``). The controller checks every 5 s
  (``GITCANARY_HISTORY_CHECK_S``).

Afterwards (revisions stop, the last ones finish): for each revision, exactly one write-back
block in ``git log`` names its tag with the expected result; each ``Gitcanary-Intent`` id is in
one commit; nothing stays pending; each Canary ends in its expected phase; the controller never
exited. Meanwhile no analysis may stall: between two steps of a Canary's analysis
(``iterations`` + ``failedChecks`` growing while Progressing) at most ``--max-gap`` seconds.
Prints the decisions taken during each fault, how long the intents pending at its end took to
land once it cleared, pushes the hook rejected, rewrites, lost and duplicated write-backs, the
longest analysis gap. Exit status 1 on any loss, duplicate, stall or mismatch.

Usage: .venv/bin/python bench/chaos/git_faults.py [--canaries 6] [--down 300] [--reject 120]
           [--hung 120] [--rewrite 120] [--sandbox-dir D] [--smoke]
"""

from __future__ import annotations

import argparse
import os
import random
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

from chaos_fleet import (
    GitServer,
    Obj,
    Replica,
    apply,
    audit,
    canaries,
    canary_objects,
    events,
    git,
    open_sandbox,
    seed_fleet,
)
from kill_campaign import TERMINAL, Canary, launch, verify

from gitcanary_sandbox import environment
from gitcanary_sandbox.client import SandboxClient

INTERVAL_S = 10
REJECT_HOOK = """#!/bin/sh
cat > /dev/null
n=$(od -An -N1 -tu1 /dev/urandom | tr -d ' ')
if [ $((n % 2)) -eq 0 ]; then echo reject >> "{log}"; echo "chaos: push declined at random" >&2; exit 1; fi
echo accept >> "{log}"
exit 0
"""


def install_hook(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o755)


class Driver:
    """Keeps revisions coming, watches the analyses' steps and the pending intents."""

    def __init__(self, sandbox: SandboxClient, prefix: str, fleet: list[Canary], max_gap: float) -> None:
        self.sandbox, self.prefix, self.fleet, self.max_gap = sandbox, prefix, fleet, max_gap
        self.statuses: dict[str, Obj] = {}
        self.launching = True
        self.phase = "healthy"
        self.decisions: Counter[str] = Counter()
        self.steps: dict[str, tuple[object, int, float]] = {}  # ns -> (revision, steps, since)
        self.gaps: list[tuple[float, str, str]] = []
        self.exits = 0
        self.lost_alarms: set[tuple[str, str]] = set()
        """(namespace, message) of every ``WriteBackLost=True`` seen before the drop."""

    def poll(self, replica: Replica) -> None:
        if not replica.alive():
            self.exits += 1
            replica.start()
        self.statuses = canaries(self.sandbox, self.prefix + "-")
        now = time.monotonic()
        for c in self.fleet:
            s = self.statuses.get(c.ns, {})
            if (lost := lost_condition(s)) is not None and lost.get("status") == "True":
                self.lost_alarms.add((c.ns, str(lost.get("message"))))
            if not c.done and s.get("lastAppliedSpec") != c.before and s.get("phase") in TERMINAL:
                c.done = True
            if c.done and self.launching:
                launch(self.sandbox, c, s)
                self.decisions[self.phase] += 1
            steps = int(s.get("iterations") or 0) + int(s.get("failedChecks") or 0)
            revision = s.get("lastAppliedSpec")
            seen = self.steps.get(c.ns)
            if s.get("phase") != "Progressing":
                self.steps.pop(c.ns, None)
            elif seen is None or seen[0] != revision or steps != seen[1]:
                if seen is not None and seen[0] == revision:
                    self.gaps.append((now - seen[2], c.ns, self.phase))
                self.steps[c.ns] = (revision, steps, now)
            elif now - seen[2] > self.max_gap:
                self.gaps.append((now - seen[2], c.ns, self.phase))
                self.steps[c.ns] = (revision, steps, now)

    def pending(self) -> set[str]:
        return {
            str(i.get("id"))
            for s in self.statuses.values()
            for i in ((s.get("gitops") or {}).get("pending") or [])
        }

    def run_for(self, seconds: float, replica: Replica, also: Callable[[], None] | None = None) -> None:
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            self.poll(replica)
            if also is not None:
                also()
            time.sleep(0.5)

    def drain(self, ids: set[str], replica: Replica, limit: float) -> float:
        """Seconds until none of ``ids`` is pending (inf when ``limit`` passes first)."""
        start = time.monotonic()
        while ids & self.pending():
            if time.monotonic() - start > limit:
                return float("inf")
            self.poll(replica)
            time.sleep(0.5)
        return time.monotonic() - start


def lost_condition(status: Obj) -> Obj | None:
    return next((c for c in status.get("conditions") or [] if c.get("type") == "WriteBackLost"), None)


def missing_events(sandbox: SandboxClient, ns: str) -> int:
    return sum(
        int(e.get("count") or 1) for e in events(sandbox, ns) if e.get("reason") == "DecisionCommitMissing"
    )


def drop_and_restore(sandbox: SandboxClient, server: GitServer, limit: float) -> Counter[str]:
    """Drop the tip (a decision commit), expect the condition and one Event, put it back.

    Counts what went wrong (``drop skipped``, ``not detected``, ``re-pushed``, ``not restored``,
    ``Event count wrong``); ``detect_ms`` and ``restore_ms`` are the times to the condition."""
    out: Counter[str] = Counter()
    bare = server.bare
    tip = git(bare, "rev-parse", "refs/heads/main").strip()
    blocks = [b for b in audit(bare) if b.sha == tip]
    if not blocks:
        print("  drop: the tip is not a decision commit; skipped")
        out["drop skipped"] += 1
        return out
    ns, intent = blocks[0].canary.split("/")[0], blocks[0].intent
    parent = git(bare, "rev-parse", f"{tip}^").strip()
    git(bare, "update-ref", "refs/heads/main", parent, tip)

    def wait(probe: Callable[[Obj], bool]) -> float:
        started = time.monotonic()
        while time.monotonic() - started < limit:
            if probe(lost_condition(canaries(sandbox, ns).get(ns, {})) or {}):
                return time.monotonic() - started
            time.sleep(0.5)
        return -1.0

    detected = wait(lambda c: c.get("status") == "True" and intent in str(c.get("message")))
    out["not detected"] += detected < 0
    time.sleep(12)  # more than two checks: the Event must not repeat
    out["re-pushed"] += intent in {b.intent for b in audit(bare)}
    said = missing_events(sandbox, ns)
    git(bare, "update-ref", "refs/heads/main", tip, parent)  # fails (raises) if anything moved it
    restored = wait(lambda c: c.get("reason") == "DecisionCommitFound")
    out["not restored"] += restored < 0
    said_after = missing_events(sandbox, ns)
    out["Event count wrong"] += said != 1 or said_after != 1
    out["detect_ms"], out["restore_ms"] = round(1000 * detected), round(1000 * restored)
    print(
        f"  drop {tip[:10]} ({ns}, intent {intent}): WriteBackLost=True after {detected:.1f} s, "
        f"{said} DecisionCommitMissing Event(s), re-pushed {out['re-pushed']}; put back: False "
        f"(DecisionCommitFound) after {restored:.1f} s, Events then {said_after}"
    )
    return out


class Rewriter:
    """Another writer that force-rewrites the branch tip in the bare repository (compare-and-swap)."""

    def __init__(self, server: GitServer, rng: random.Random) -> None:
        self.server, self.rng = server, rng
        self.next_at = 0.0
        self.rewrites = 0

    def __call__(self) -> None:
        if time.monotonic() < self.next_at:
            return
        self.next_at = time.monotonic() + self.rng.uniform(2, 4)
        bare = self.server.bare
        tip = git(bare, "rev-parse", "refs/heads/main").strip()
        name, email, date = git(bare, "log", "-1", "--format=%an%x00%ae%x00%ad", tip).strip().split("\0")
        env = {**os.environ, "GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email, "GIT_AUTHOR_DATE": date}
        env |= {"GIT_COMMITTER_NAME": "rewriter", "GIT_COMMITTER_EMAIL": "rewriter@example.com"}
        new = subprocess.run(
            ["git", "commit-tree", f"{tip}^{{tree}}", "-p", f"{tip}^"],
            cwd=bare,
            input=git(bare, "log", "-1", "--format=%B", tip),
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.strip()
        # Compare-and-swap: when a push landed in between, it wins and this rewrite is skipped.
        swapped = subprocess.run(
            ["git", "update-ref", "refs/heads/main", new, tip], cwd=bare, capture_output=True, timeout=60
        )
        self.rewrites += swapped.returncode == 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--canaries", type=int, default=6)
    parser.add_argument("--down", type=float, default=300)
    parser.add_argument("--reject", type=float, default=120)
    parser.add_argument("--hung", type=float, default=120)
    parser.add_argument("--rewrite", type=float, default=120)
    parser.add_argument("--pause", type=float, default=30, help="healthy seconds after each fault")
    parser.add_argument("--max-gap", type=float, default=2.5 * INTERVAL_S)
    parser.add_argument("--settle", type=float, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sandbox-dir", type=Path)
    parser.add_argument("--smoke", action="store_true", help="4 canaries, 20 s per fault")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # cleanup runs in the finally blocks
    if args.smoke:
        args.canaries, args.pause, args.settle = 4, 5, 180
        args.down = args.reject = args.hung = args.rewrite = 20
    rng = random.Random(args.seed)
    sandbox, owned = open_sandbox(args.sandbox_dir)
    sandbox.require("crds")
    prefix = f"gf-{uuid.uuid4().hex[:6]}"
    work = Path(tempfile.mkdtemp(prefix="gitcanary-gitfaults-"))
    server = GitServer(work / "git", work / "git-http.log")
    names = [f"{prefix}-{i}" for i in range(args.canaries)]
    failing = set(rng.sample(names, args.canaries // 2))
    fleet = [Canary(ns, ns in failing) for ns in names]
    seed_fleet(server, names, work)
    server.start()
    apply(sandbox, [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}} for n in names])
    objs = []
    for c in fleet:
        sandbox.set_traffic(c.ns, "podinfo", rps=20, error_rate=0.5 if c.failing else 0.0)
        objs += canary_objects(sandbox, c.ns, server, iterations=1)
    apply(sandbox, objs)
    replica = Replica(
        0,
        work,
        (f"--kubeconfig={sandbox.kubeconfig}", f"--namespace={prefix}-*", "--verbose"),
        {"GITCANARY_METRICS_SERVER": sandbox.state.prometheus_url, "GITCANARY_HISTORY_CHECK_S": "5"},
    )
    driver = Driver(sandbox, prefix, fleet, args.max_gap)
    hook_log = work / "hook.log"
    rewriter = Rewriter(server, rng)
    drains: dict[str, float] = {}
    started = time.monotonic()
    try:
        replica.start()
        deadline = time.monotonic() + 180
        while not (
            len(driver.statuses) == len(fleet)
            and all(s.get("phase") == "Initialized" for s in driver.statuses.values())
        ):
            if time.monotonic() > deadline:
                raise SystemExit(f"canaries did not initialize: {driver.statuses}\n{replica.tail()}")
            driver.launching = False
            driver.poll(replica)
            time.sleep(1)
        query = f'count(sum by (destination_workload_namespace) (rate(istio_requests_total{{destination_workload_namespace=~"{prefix}-.*"}}[10s])) > 5)'
        sandbox.wait_prom_value(query, lambda v: v >= len(fleet), timeout=60)
        driver.launching = True
        driver.run_for(args.pause, replica)

        def fault(name: str, seconds: float, begin: Callable[[], None], end: Callable[[], None]) -> None:
            driver.phase = name
            begin()
            driver.run_for(seconds, replica, rewriter if name == "rewrite" else None)
            end()
            left = driver.pending()
            driver.phase = "healthy"
            drains[name] = driver.drain(left, replica, args.settle)
            driver.run_for(args.pause, replica)

        hook = server.bare / "hooks" / "pre-receive"
        fault("down", args.down, server.stop, server.start)
        fault(
            "reject",
            args.reject,
            lambda: install_hook(hook, REJECT_HOOK.format(log=hook_log)),
            hook.unlink,
        )
        fault("hung", args.hung, server.stall, server.unstall)
        fault("rewrite", args.rewrite, lambda: None, lambda: None)
        driver.launching = False
        settle_until = time.monotonic() + args.settle
        while time.monotonic() < settle_until and not (all(c.done for c in fleet) and not driver.pending()):
            driver.poll(replica)
            time.sleep(0.5)
        driver.run_for(15, replica)  # more than one interval: nothing may be written twice afterwards
        alarms = sorted(driver.lost_alarms)
        dropped = drop_and_restore(sandbox, server, args.settle)
        found = verify(sandbox, server, fleet, driver.statuses)
    finally:
        replica.stop()
        server.stop()
        sandbox.kubectl("delete", "namespace", *names, "--wait=false", check=False)
        if owned is not None:
            environment.down(owned, quiet=True)
    hook_lines = hook_log.read_text().split() if hook_log.exists() else []
    longest = max(driver.gaps, default=(0.0, "-", "-"))
    stalls = [g for g in driver.gaps if g[0] > args.max_gap]
    print(
        f"git faults: {len(fleet)} canaries ({len(failing)} failing), {found['decisions']} decisions, "
        f"{time.monotonic() - started:.0f} s; faults down {args.down:.0f} s, reject {args.reject:.0f} s, "
        f"hung {args.hung:.0f} s, rewrite {args.rewrite:.0f} s"
    )
    print("  decisions started during: " + ", ".join(f"{k} {v}" for k, v in driver.decisions.items()))
    print(
        "  intents pending at a fault's end, landed after it cleared in: "
        + ", ".join(f"{k} {v:.1f} s" for k, v in drains.items())
    )
    print(
        f"  pushes declined by the hook {hook_lines.count('reject')} of {len(hook_lines)}; "
        f"branch rewrites {rewriter.rewrites}; controller exits {driver.exits}"
    )
    print(
        f"  lost write-backs {found['lost write-backs']}, duplicated write-backs {found['duplicated write-backs']}, "
        f"final-state mismatches {found['final-state mismatches']}, stuck {found['stuck (intents pending)']}, "
        f"decision Events repeated {found['decision Events repeated']}"
    )
    print(
        f"  longest analysis gap {longest[0]:.1f} s ({longest[1]}, during {longest[2]}; limit {args.max_gap:.0f} s), "
        f"stalls {len(stalls)}"
    )
    print(f"  WriteBackLost=True before the drop (false alarms): {len(alarms)} {alarms[:3]}")
    bad = sum(found[k] for k in ("final-state mismatches", "lost write-backs", "duplicated write-backs"))
    bad += len(alarms) + sum(dropped[k] for k in ("drop skipped", "not detected", "re-pushed"))
    bad += dropped["not restored"] + dropped["Event count wrong"]
    bad += found["stuck (intents pending)"] + found["decision Events repeated"] + len(stalls) + driver.exits
    bad += sum(1 for v in drains.values() if v == float("inf"))
    print(f"  verdict: {'ok' if bad == 0 else 'FAILED'} (work dir {work})")
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
