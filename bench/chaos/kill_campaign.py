"""Kill campaign: SIGKILL controller replicas at random while Canaries decide and write back.

On the sandbox (real kube-apiserver, Prometheus fed by the traffic simulator): N Canaries, each in
a namespace of its own, half of them failing (50% HTTP 500s in the simulator, so the error-rate
metric fails), all writing back to one repository on a smart-HTTP remote (``git http-backend``
behind basic auth, credentials in a Secret). Two ``gitcanary run --leader-elect`` replicas. Every
Canary analyses one revision after another (a new podinfo tag each time) until the kills are
spent, then finishes the one it has.

Kills, each SIGKILL of a replica and every process it started (its git too), the replica
restarted 0.5-3 s later:

- ``random``: a random replica at a random time (every phase of every Canary is a candidate);
- ``pending``: the leader, as soon as some Canary holds an intent in ``status.gitops.pending``
  (a decision taken, its commit not yet pushed);
- ``pushed``: the leader while its push is in flight: the remote's post-receive hook (the branch
  already moved) holds the push until the leader is dead, so the kill falls between the push and
  the status update that moves the intent to ``applied``.

After a leader kill the next kill waits until a replica leads again. Afterwards, for each Canary:
its final phase (Succeeded for the healthy ones, Failed for the failing ones); for each revision
it analysed, exactly one write-back block in ``git log`` whose ``Gitcanary-Image`` names that
revision's tag, with the expected ``Gitcanary-Result``, and each ``Gitcanary-Intent`` id in one
commit only; no intent left pending; no more "Promotion completed!" / "Canary failed!" Events than
decisions. Prints kills (by trigger, by the phases the Canaries were in), canaries, final-state
mismatches, lost and duplicated write-backs, and the time to recover: leader killed -> a replica
leads again (p50, p99, max). Exit status 1 on any mismatch, loss, duplicate or stuck Canary.

Usage: .venv/bin/python bench/chaos/kill_campaign.py [--canaries 50] [--kills 200] [--seed 0]
           [--sandbox-dir D] [--smoke]
"""

from __future__ import annotations

import argparse
import random
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from chaos_fleet import (
    GitServer,
    Obj,
    Replica,
    WriteBackCommit,
    apply,
    audit,
    canaries,
    canary_objects,
    decision_events,
    open_sandbox,
    percentile,
    seed_fleet,
    set_image,
)

from gitcanary_sandbox import environment
from gitcanary_sandbox.client import SandboxClient

TERMINAL = ("Succeeded", "Failed")
HOOK = """#!/bin/sh
# Hold a push once while the campaign has armed this hook: the branch has moved, the pusher waits.
cat > /dev/null
if mv "{ctl}/arm" "{ctl}/fired" 2>/dev/null; then
  i=0
  while [ -e "{ctl}/fired" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
fi
exit 0
"""


@dataclass
class Canary:
    ns: str
    failing: bool
    tags: list[str] = field(default_factory=list)
    before: object = None  # lastAppliedSpec when the current revision was set
    done: bool = True

    @property
    def expected_phase(self) -> str:
        return "Failed" if self.failing else "Succeeded"

    @property
    def expected_result(self) -> str:
        return "rolled-back" if self.failing else "promoted"


@dataclass
class Campaign:
    replicas: list[Replica]
    rng: random.Random
    ctl: Path
    kills: Counter[str] = field(default_factory=Counter)
    phases_at_kill: Counter[str] = field(default_factory=Counter)
    recoveries: list[float] = field(default_factory=list)
    unplanned_exits: int = 0
    restarts: list[tuple[float, Replica]] = field(default_factory=list)
    awaiting_leader_since: float | None = None
    next_kill_at: float = 0.0
    trigger: str = "random"
    trigger_since: float = 0.0

    def leader(self) -> Replica | None:
        return next((r for r in self.replicas if r.alive() and r.poll_log()), None)

    def kill(self, victim: Replica, how: str, statuses: dict[str, Obj]) -> None:
        was_leader = victim.poll_log()
        victim.kill()
        now = time.monotonic()
        self.kills[how] += 1
        self.kills["leader" if was_leader else "standby"] += 1
        self.phases_at_kill.update(str(s.get("phase") or "none") for s in statuses.values())
        self.restarts.append((now + self.rng.uniform(0.5, 3.0), victim))
        if was_leader and self.awaiting_leader_since is None:
            self.awaiting_leader_since = now

    def plan_next(self, gap: tuple[float, float]) -> None:
        self.next_kill_at = time.monotonic() + self.rng.uniform(*gap)
        self.trigger = self.rng.choices(("random", "pending", "pushed"), weights=(2, 1, 1))[0]
        self.trigger_since = 0.0

    def step(self, statuses: dict[str, Obj], kills_left: bool, gap: tuple[float, float]) -> None:
        now = time.monotonic()
        for due, replica in list(self.restarts):
            if now >= due:
                self.restarts.remove((due, replica))
                replica.start()
        for replica in self.replicas:
            if (
                replica.proc is not None
                and not replica.alive()
                and all(r is not replica for _, r in self.restarts)
            ):
                self.unplanned_exits += 1
                replica.start()
        leader = self.leader()
        if self.awaiting_leader_since is not None and leader is not None:
            self.recoveries.append(now - self.awaiting_leader_since)
            self.awaiting_leader_since = None
            self.next_kill_at = max(self.next_kill_at, now + self.rng.uniform(*gap))
        if not kills_left or self.awaiting_leader_since is not None or now < self.next_kill_at:
            return
        if self.trigger == "random" or leader is None:
            self.kill(self.rng.choice(self.replicas), "random", statuses)
            self.plan_next(gap)
            return
        if not self.trigger_since:
            self.trigger_since = now
            if self.trigger == "pushed":
                (self.ctl / "arm").touch()
        fired = False
        if self.trigger == "pushed":
            fired = (self.ctl / "fired").exists()
        elif self.trigger == "pending":
            fired = any((s.get("gitops") or {}).get("pending") for s in statuses.values())
        if fired or now - self.trigger_since > 90:
            self.kill(leader, self.trigger if fired else "random (trigger timed out)", statuses)
            (self.ctl / "arm").unlink(missing_ok=True)
            (self.ctl / "fired").unlink(missing_ok=True)
            self.plan_next(gap)


def launch(sandbox: SandboxClient, c: Canary, status: Obj) -> None:
    tag = f"6.0.{len(c.tags) + 1}"
    c.before, c.done = status.get("lastAppliedSpec"), False
    set_image(sandbox, c.ns, tag)
    c.tags.append(tag)


def analysed_tag(block: WriteBackCommit) -> str:
    """The tag of the revision a decision was about: ``Gitcanary-Image`` is ``<image>:<from> -> <to>``,
    the analysed tag is ``to`` for a promotion and ``from`` (the failed one) for a rollback."""
    before, _, after = block.image.partition(" -> ")
    return after.strip() if block.result == "promoted" else before.rpartition(":")[2]


def verify(
    sandbox: SandboxClient, server: GitServer, fleet: list[Canary], statuses: dict[str, Obj]
) -> Counter[str]:
    found: Counter[str] = Counter()
    blocks = audit(server.bare)
    for c in fleet:
        status = statuses.get(c.ns, {})
        mine = [b for b in blocks if b.canary == f"{c.ns}/podinfo"]
        if status.get("phase") != c.expected_phase or not c.done:
            found["final-state mismatches"] += 1
            print(f"  {c.ns}: phase {status.get('phase')}, expected {c.expected_phase} (done={c.done})")
        if (status.get("gitops") or {}).get("pending"):
            found["stuck (intents pending)"] += 1
            print(f"  {c.ns}: intents still pending: {status.get('gitops')}")
        for tag in c.tags:
            hits = [b for b in mine if analysed_tag(b) == tag]
            if not hits:
                found["lost write-backs"] += 1
                print(f"  {c.ns}: no write-back for {tag}")
            found["duplicated write-backs"] += max(0, len(hits) - 1)
            if len(hits) > 1:
                print(f"  {c.ns}: {len(hits)} write-backs for {tag}: {[h.sha[:10] for h in hits]}")
            if any(b.result != c.expected_result for b in hits):
                found["final-state mismatches"] += 1
                print(f"  {c.ns}: {tag} written as {[b.result for b in hits]}, expected {c.expected_result}")
        ids = Counter(b.intent for b in mine)
        found["duplicated write-backs"] += sum(n - 1 for n in ids.values())
        found["decisions"] += len(c.tags)
        events = decision_events(sandbox, c.ns)
        said = events["failed" if c.failing else "promoted"]
        found["decision Events repeated"] += max(0, said - len(c.tags))
        found["decision Events missing"] += max(0, len(c.tags) - said)
    return found


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--canaries", type=int, default=50)
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gap", type=float, nargs=2, default=(1.0, 6.0), help="seconds between kills")
    parser.add_argument("--settle", type=float, default=600, help="seconds for the last revisions to finish")
    parser.add_argument("--sandbox-dir", type=Path)
    parser.add_argument("--smoke", action="store_true", help="4 canaries, 5 kills")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # cleanup runs in the finally blocks
    if args.smoke:
        args.canaries, args.kills, args.settle = 4, 5, 240
    rng = random.Random(args.seed)
    sandbox, owned = open_sandbox(args.sandbox_dir)
    sandbox.require("crds")
    prefix = f"kc-{uuid.uuid4().hex[:6]}"
    work = Path(tempfile.mkdtemp(prefix="gitcanary-kills-"))
    server = GitServer(work / "git", work / "git-http.log")
    names = [f"{prefix}-{i}" for i in range(args.canaries)]
    failing = set(rng.sample(names, args.canaries // 2))
    fleet = [Canary(ns, ns in failing) for ns in names]
    seed_fleet(server, names, work)
    ctl = work / "ctl"
    ctl.mkdir()
    hook = server.bare / "hooks" / "post-receive"
    hook.write_text(HOOK.format(ctl=ctl))
    hook.chmod(0o755)
    server.start()
    lease_ns = f"{prefix}-lease"
    apply(
        sandbox,
        [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}} for n in [*names, lease_ns]],
    )
    objs = []
    for c in fleet:
        sandbox.set_traffic(c.ns, "podinfo", rps=20, error_rate=0.5 if c.failing else 0.0)
        objs += canary_objects(sandbox, c.ns, server, iterations=2)
    apply(sandbox, objs)
    run_args = (
        f"--kubeconfig={sandbox.kubeconfig}",
        f"--namespace={prefix}-*",
        "--leader-elect",
        f"--leader-election-namespace={lease_ns}",
    )
    env = {"GITCANARY_METRICS_SERVER": sandbox.state.prometheus_url}
    campaign = Campaign([Replica(i, work, run_args, env) for i in range(2)], rng, ctl)
    started = time.monotonic()
    try:
        for replica in campaign.replicas:
            replica.start()
        statuses: dict[str, Obj] = {}
        deadline = time.monotonic() + 120 + 3 * args.canaries
        while not (
            len(statuses) == len(fleet) and all(s.get("phase") == "Initialized" for s in statuses.values())
        ):
            if time.monotonic() > deadline:
                raise SystemExit(f"canaries did not initialize: {statuses}\n{campaign.replicas[0].tail()}")
            campaign.step(statuses, False, args.gap)
            time.sleep(1)
            statuses = canaries(sandbox, prefix + "-")
        query = f'count(sum by (destination_workload_namespace) (rate(istio_requests_total{{destination_workload_namespace=~"{prefix}-.*"}}[10s])) > 5)'
        sandbox.wait_prom_value(query, lambda v: v >= len(fleet), timeout=60)
        for c in fleet:
            launch(sandbox, c, statuses[c.ns])
        campaign.plan_next(tuple(args.gap))
        settle_until = None
        while True:
            statuses = canaries(sandbox, prefix + "-")
            kills_left = sum(campaign.kills[k] for k in ("leader", "standby")) < args.kills
            for c in fleet:
                s = statuses[c.ns]
                if not c.done and s.get("lastAppliedSpec") != c.before and s.get("phase") in TERMINAL:
                    c.done = True
                if c.done and kills_left:
                    launch(sandbox, c, s)
            campaign.step(statuses, kills_left, tuple(args.gap))
            if not kills_left:
                settle_until = settle_until or time.monotonic() + args.settle
                quiet = all(c.done and not (statuses[c.ns].get("gitops") or {}).get("pending") for c in fleet)
                if (quiet and campaign.awaiting_leader_since is None) or time.monotonic() > settle_until:
                    break
            time.sleep(0.5)
        time.sleep(15)  # more than one analysis interval: nothing may be written twice afterwards
        statuses = canaries(sandbox, prefix + "-")
        found = verify(sandbox, server, fleet, statuses)
    finally:
        for replica in campaign.replicas:
            replica.stop()
        server.stop()
        sandbox.kubectl("delete", "namespace", *names, lease_ns, "--wait=false", check=False)
        if owned is not None:
            environment.down(owned, quiet=True)
    took = time.monotonic() - started
    kills = campaign.kills["leader"] + campaign.kills["standby"]
    by_trigger = ", ".join(
        f"{k} {v}" for k, v in sorted(campaign.kills.items()) if k not in ("leader", "standby")
    )
    phases = ", ".join(f"{k} {v}" for k, v in campaign.phases_at_kill.most_common())
    rec = campaign.recoveries
    print(
        f"kill campaign: {kills} kills ({campaign.kills['leader']} of the leader, {campaign.kills['standby']} of the "
        f"standby; {by_trigger}) over {len(fleet)} canaries ({len(failing)} failing), {found['decisions']} decisions, "
        f"{took:.0f} s"
    )
    print(f"  canary phases at the kills: {phases}")
    print(
        f"  final-state mismatches {found['final-state mismatches']}, lost write-backs {found['lost write-backs']}, "
        f"duplicated write-backs {found['duplicated write-backs']}, stuck {found['stuck (intents pending)']}"
    )
    print(
        f"  decision Events repeated {found['decision Events repeated']}, missing {found['decision Events missing']}; "
        f"unplanned replica exits {campaign.unplanned_exits}"
    )
    print(
        f"  time to recover (leader killed -> a replica leads): p50 {percentile(rec, 0.5):.1f} s, "
        f"p99 {percentile(rec, 0.99):.1f} s, max {max(rec, default=float('nan')):.1f} s over {len(rec)} leader kills"
    )
    bad = sum(found[k] for k in ("final-state mismatches", "lost write-backs", "duplicated write-backs"))
    bad += found["stuck (intents pending)"] + found["decision Events repeated"]
    print(f"  verdict: {'ok' if bad == 0 else 'FAILED'} (work dir {work})")
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
