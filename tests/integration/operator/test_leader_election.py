"""Two replicas with --leader-elect, and two shards with --watch-label-selector, as real processes.

- The standby does nothing until the leader dies; after a kill -9 it takes the Lease within the
  lease duration (15 s) plus one retry period, and finishes the analysis the leader started,
  with each promotion step taken once; with write-back configured, the promotion reaches Git in
  exactly one commit.
- Two shards split Canaries by Flux's ``sharding.fluxcd.io/key`` label: a shard never touches
  another shard's Canaries.
"""

from __future__ import annotations

import json
import signal
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from controller.leader import DEFAULT_LEASE_NAME, LEASE_DURATION_S, RETRY_PERIOD_S
from controller.sharding import SHARD_KEY
from gitcanary_sandbox.client import SandboxClient
from tests.builders import canary, deployment
from tests.integration.operator.fleet import (
    PRODUCTION_YAML,
    canary_status,
    flux_applied_deployment,
    start_fleet,
)
from tests.integration.operator.test_canary_lifecycle import _apply, _events, _get, _wait
from tests.integration.operator.test_resilience import _status, controller, own_namespace

__all__ = ["own_namespace"]  # the fixture, re-exported for pytest


def _holder(sandbox: SandboxClient, ns: str) -> str:
    out = sandbox.kubectl("get", "lease", "-n", ns, DEFAULT_LEASE_NAME, "-o", "json", check=False)
    if not out.strip().startswith("{"):
        return ""
    lease: dict[str, Any] = json.loads(out)
    return str(lease.get("spec", {}).get("holderIdentity") or "")


def _leads(log: Path) -> bool:
    return " leads" in log.read_text(errors="replace")


def test_the_standby_takes_over_a_killed_leader_and_finishes_the_analysis(
    sandbox: SandboxClient, own_namespace: str, tmp_path: Path
) -> None:
    ns = own_namespace
    logs = [tmp_path / "replica-0.log", tmp_path / "replica-1.log"]
    args = (f"--namespace={ns}", "--leader-elect", f"--leader-election-namespace={ns}", "--verbose")
    _apply(
        sandbox,
        deployment(ns, "podinfo", "ghcr.io/stefanprodan/podinfo:6.0.0"),
        canary(ns, "podinfo", iterations=4, template=None),
    )
    with ExitStack() as stack:
        replicas = [stack.enter_context(controller(sandbox, log, ns, *args)) for log in logs]
        _wait("a leader", lambda: _holder(sandbox, ns), 30, logs[0])
        _wait("the leader's log", lambda: any(_leads(log) for log in logs), 10, logs[0])
        leader = 0 if _leads(logs[0]) else 1
        standby = 1 - leader
        assert not _leads(logs[standby])
        first_holder = _holder(sandbox, ns)
        _wait("Initialized", lambda: _status(sandbox, ns).get("phase") == "Initialized", 60, logs[leader])
        sandbox.kubectl("set", "image", "-n", ns, "deployment/podinfo", "podinfod=ghcr.io/stefanprodan/podinfo:6.0.1")
        _wait("iteration 1", lambda: _status(sandbox, ns).get("iterations", 0) >= 1, 60, logs[leader])
        # The standby has not driven anything: kopf never started there.
        assert "podinfo" not in logs[standby].read_text(errors="replace")

        replicas[leader].send_signal(signal.SIGKILL)
        replicas[leader].wait(timeout=10)
        killed = time.monotonic()
        _wait("the standby to lead", lambda: _leads(logs[standby]), LEASE_DURATION_S + 3 * RETRY_PERIOD_S + 5, logs[standby])
        takeover = time.monotonic() - killed
        assert _holder(sandbox, ns) not in ("", first_holder)
        assert takeover <= LEASE_DURATION_S + 2 * RETRY_PERIOD_S + 3, f"takeover took {takeover:.1f}s"
        _wait("Succeeded", lambda: _status(sandbox, ns).get("phase") == "Succeeded", 180, logs[standby])

    primary = _get(sandbox, "deployment", ns, "podinfo-primary")
    assert primary["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":6.0.1")
    events = _events(sandbox, ns)
    assert events.count(f"Copying podinfo.{ns} template spec to podinfo-primary.{ns}") == 1
    assert events.count(f"Promotion completed! Scaling down podinfo.{ns}") == 1


def test_a_takeover_mid_analysis_writes_the_promotion_back_in_exactly_one_commit(
    sandbox: SandboxClient, own_namespace: str, tmp_path: Path
) -> None:
    ns = own_namespace
    logs = [tmp_path / "replica-0.log", tmp_path / "replica-1.log"]
    args = (f"--namespace={ns}", "--leader-elect", f"--leader-election-namespace={ns}", "--verbose")
    # The fleet repository on the HTTP remote, its GitRepository (credentials in a Secret) and
    # Kustomization, and podinfo 6.0.0 with a write-back Canary of four iterations.
    fleet = start_fleet(sandbox, ns, tmp_path, iterations=4)
    with ExitStack() as stack:
        replicas = [stack.enter_context(controller(sandbox, log, ns, *args)) for log in logs]
        _wait("the leader's log", lambda: any(_leads(log) for log in logs), 30, logs[0])
        leader = 0 if _leads(logs[0]) else 1
        standby = 1 - leader
        _wait(
            "Initialized", lambda: canary_status(sandbox, ns).get("phase") == "Initialized", 60, logs[leader]
        )
        # Flux applies 6.0.1, the seeded revision; it is healthy.
        _apply(sandbox, flux_applied_deployment(ns, "ghcr.io/stefanprodan/podinfo:6.0.1"))
        _wait("iteration 1", lambda: canary_status(sandbox, ns).get("iterations", 0) >= 1, 60, logs[leader])

        replicas[leader].send_signal(signal.SIGKILL)
        replicas[leader].wait(timeout=10)
        _wait(
            "the standby to lead",
            lambda: _leads(logs[standby]),
            LEASE_DURATION_S + 3 * RETRY_PERIOD_S + 5,
            logs[standby],
        )
        _wait("Succeeded", lambda: canary_status(sandbox, ns).get("phase") == "Succeeded", 180, logs[standby])
        written = _wait(
            "the promotion write-back",
            lambda: (
                (w := (canary_status(sandbox, ns).get("gitops") or {}).get("lastWriteBack") or {}).get(
                    "result"
                )
                == "promoted"
                and w
            ),
            60,
            logs[standby],
        )
        time.sleep(12)  # more than one analysis interval (10 s): later ticks must not write again

    write_backs = fleet.write_backs(ns)
    assert [sha for sha, _ in write_backs] == [written["commit"]], write_backs
    message = write_backs[0][1]
    assert "Gitcanary-Result: promoted" in message
    assert f"Gitcanary-Source: main@sha1:{fleet.seeded}" in message
    assert (fleet.work / ns / "production" / "kustomization.yaml").read_text() == PRODUCTION_YAML.format(
        ns=ns
    ).replace("newTag: 6.0.0", "newTag: 6.0.1")
    # Only the standby wrote it: the killed leader never reached the promotion.
    assert f"{ns}/podinfo: " in logs[standby].read_text(errors="replace")
    events = _events(sandbox, ns)
    assert events.count(f"Promotion completed! Scaling down podinfo.{ns}") == 1


def test_two_shards_split_canaries_by_label_and_never_share_one(
    sandbox: SandboxClient, own_namespace: str, tmp_path: Path
) -> None:
    ns = own_namespace
    shards = {"shard1": [f"app-a{i}" for i in range(10)], "shard2": [f"app-b{i}" for i in range(10)]}
    objs: list[dict[str, Any]] = []
    for shard, names in shards.items():
        for name in names:
            obj = canary(ns, name, iterations=1, template=None)
            obj["metadata"]["labels"] = {SHARD_KEY: shard}
            objs += [deployment(ns, name, "ghcr.io/stefanprodan/podinfo:6.0.0", replicas=1), obj]
    _apply(sandbox, *objs)

    def initialized(names: list[str]) -> bool:
        return all(_status(sandbox, ns, n).get("phase") == "Initialized" for n in names)

    log1, log2 = tmp_path / "shard1.log", tmp_path / "shard2.log"
    with controller(sandbox, log1, ns, f"--namespace={ns}", f"--watch-label-selector={SHARD_KEY}=shard1"):
        _wait("shard1's Canaries Initialized", lambda: initialized(shards["shard1"]), 180, log1)
        time.sleep(3)  # room for a wrong owner to touch shard2's Canaries
        assert all(not _status(sandbox, ns, n) for n in shards["shard2"]), "shard1 touched shard2's Canaries"
        with controller(sandbox, log2, ns, f"--namespace={ns}", f"--watch-label-selector={SHARD_KEY} in (shard2)"):
            _wait("shard2's Canaries Initialized", lambda: initialized(shards["shard2"]), 180, log2)
    # Every reconcile log line starts with the Canary's key: no shard reconciled another's Canary.
    for shard, log in (("shard1", log2), ("shard2", log1)):
        text = log.read_text(errors="replace")
        assert not [n for n in shards[shard] if f"{ns}/{n}: " in text], f"{shard} reconciled by the other shard"
    for shard, log in (("shard1", log1), ("shard2", log2)):
        text = log.read_text(errors="replace")
        assert all(f"{ns}/{n}: " in text for n in shards[shard]), f"{shard} not reconciled by its own shard"
