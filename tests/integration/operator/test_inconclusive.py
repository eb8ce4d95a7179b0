"""Inconclusive checks through the real controller (issue 16): "we could not measure" never
quarantines a tag in Git; only a measured failure or a webhook's "bad" answer does.

Real parts: the sandbox apiserver with the Flux CRDs, the `gitcanary run` process, the sandbox's
Prometheus (stopped and restarted for real), a webhook server in the test, and the smart-HTTP git
remote. As in test_write_back.py the test plays Flux's part (the fleet helpers).

Each scenario runs for metrics (Prometheus) and for a rollout webhook (one that times out, against
one that answers 500 with a verdict):
- the backend goes away mid-analysis and comes back: the canary holds its iteration, resumes and
  is promoted, and the only write-back is the promotion;
- the backend stays away past the threshold: traffic goes back to the primary, the write-back
  says `Gitcanary-Result: inconclusive`, the image is reverted and the ImagePolicy range is
  unchanged;
- a real failure (error rate out of range, or a 500 verdict) is a rollback that quarantines.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gitcanary_sandbox import processes
from gitcanary_sandbox.client import SandboxClient
from gitcanary_sandbox.prometheus import start_prometheus
from tests.integration.operator.fleet import (
    DEPLOYMENT_YAML,
    POLICY_YAML,
    Fleet,
    canary_status,
    flux_applied_deployment,
    start_fleet,
    wait_errors,
)
from tests.integration.operator.test_canary_lifecycle import _apply, _wait
from tests.recording_http import RecordingServer, Reply, serve_recording

FAILED_IMAGE = "ghcr.io/stefanprodan/podinfo:6.0.1"
QUARANTINED_RANGE = POLICY_YAML.replace('">=6.0.0"', '">=6.0.0, != 6.0.1"')


# --- helpers --------------------------------------------------------------------------------


@contextmanager
def prometheus_stopped(sandbox: SandboxClient) -> Iterator[Callable[[], None]]:
    """Stop the session's Prometheus; the yielded function (and the exit) starts it again."""
    base = Path(sandbox.state.dir)
    assert processes.stop(base, "prometheus"), "Prometheus was not running"
    started = False

    def restart() -> None:
        nonlocal started
        if not started:
            start_prometheus(base, sandbox.state.ports["prometheus"], sandbox.state.ports["exporter"])
            started = True

    try:
        yield restart
    finally:
        restart()


class Hook:
    """A rollout webhook whose behaviour the test switches: ok, slow (times out), bad (500)."""

    def __init__(self, server: RecordingServer) -> None:
        self.server, self.mode = server, "ok"
        self._lock = threading.Lock()
        server.reply_with(self._reply)

    def set(self, mode: str) -> None:
        with self._lock:
            self.mode = mode

    def _reply(self, _request: object) -> Reply:
        with self._lock:
            mode = self.mode
        if mode == "slow":
            return Reply(body="still thinking", delay=4.0)
        if mode == "bad":
            return Reply(status=500, body="load test failed: 42% errors")
        return Reply(body="ok")


def configure(sandbox: SandboxClient, ns: str, analysis: dict[str, Any]) -> None:
    patch = json.dumps({"spec": {"analysis": analysis}})
    sandbox.kubectl("patch", "canaries.gitcanary.io", "podinfo", "-n", ns, "--type=merge", "-p", patch)


def wait_for(what: str, probe: Callable[[], Any], log: Path, timeout: float = 120) -> Any:
    return _wait(what, probe, timeout, log)


def status_of(sandbox: SandboxClient, ns: str) -> dict[str, Any]:
    return canary_status(sandbox, ns)


def initialized(sandbox: SandboxClient, ns: str, log: Path) -> None:
    wait_for("Initialized", lambda: status_of(sandbox, ns).get("phase") == "Initialized", log, 60)


def last_write_back(sandbox: SandboxClient, ns: str) -> dict[str, Any]:
    return dict((status_of(sandbox, ns).get("gitops") or {}).get("lastWriteBack") or {})


def events(sandbox: SandboxClient, ns: str) -> list[str]:
    items = json.loads(sandbox.kubectl("get", "events", "-n", ns, "-o", "json"))["items"]
    return [str(e.get("message") or "") for e in items]


def deploy_new_revision(sandbox: SandboxClient, ns: str) -> None:
    _apply(sandbox, flux_applied_deployment(ns, FAILED_IMAGE))


def assert_gave_up_without_verdict(sandbox: SandboxClient, ns: str, fleet: Fleet, log: Path) -> None:
    wait_for("Failed", lambda: status_of(sandbox, ns).get("phase") == "Failed", log, 150)
    written = wait_for(
        "the inconclusive write-back",
        lambda: (wb := last_write_back(sandbox, ns)).get("result") == "inconclusive" and wb,
        log,
        60,
    )
    status = status_of(sandbox, ns)
    assert (status.get("engine") or {}).get("primaryRouteWeight") == 100
    assert (status.get("engine") or {}).get("canaryRouteWeight") == 0
    commits = fleet.write_backs(ns)
    assert len(commits) == 1, commits
    sha, message = commits[0]
    assert sha == written["commit"]
    assert "Gitcanary-Result: inconclusive" in message, message
    assert f"Gitcanary-Image: {FAILED_IMAGE} -> 6.0.0" in message, message
    assert (fleet.work / ns / "policy.yaml").read_text() == POLICY_YAML, "the ImagePolicy range changed"
    assert (fleet.work / ns / "podinfo" / "deployment.yaml").read_text() == DEPLOYMENT_YAML.format(
        ns=ns, tag="6.0.0"
    ), "onInconclusive.revert defaults to reverting the image"


def assert_quarantined(sandbox: SandboxClient, ns: str, fleet: Fleet, log: Path) -> None:
    wait_for("Failed", lambda: status_of(sandbox, ns).get("phase") == "Failed", log, 150)
    wait_for(
        "the rollback write-back",
        lambda: last_write_back(sandbox, ns).get("result") == "rolled-back",
        log,
        60,
    )
    ((_, message),) = fleet.write_backs(ns)
    assert "Gitcanary-Result: rolled-back" in message, message
    assert (fleet.work / ns / "policy.yaml").read_text() == QUARANTINED_RANGE


def assert_held_then_promoted(
    sandbox: SandboxClient,
    ns: str,
    fleet: Fleet,
    log: Path,
    outage: Callable[[], Any],
    recover: Callable[[], None],
) -> None:
    """Run `outage` once the analysis made progress; check the hold; `recover`; check the promotion."""
    deploy_new_revision(sandbox, ns)
    wait_for("an iteration", lambda: int(status_of(sandbox, ns).get("iterations") or 0) >= 1, log)
    outage()
    held = wait_for(
        "two inconclusive intervals",
        lambda: (s := status_of(sandbox, ns)).get("inconclusiveChecks", 0) >= 2 and s,
        log,
        90,
    )
    iterations = held.get("iterations")
    assert held["phase"] == "Progressing" and held.get("failedChecks", 0) == 0, held
    time.sleep(12)  # one more interval: the canary does not advance while its checks cannot measure
    still = status_of(sandbox, ns)
    assert still.get("iterations") == iterations and still["phase"] == "Progressing", still
    assert "inconclusive (" in str((still.get("engine") or {}).get("lastInconclusive")), still
    assert fleet.write_backs(ns) == [], "nothing may be written to Git while the analysis holds"
    recover()
    wait_for("Succeeded", lambda: status_of(sandbox, ns).get("phase") == "Succeeded", log, 180)
    wait_for(
        "the promotion write-back", lambda: last_write_back(sandbox, ns).get("result") == "promoted", log, 60
    )
    results = [m.split("Gitcanary-Result: ", 1)[1].split("\n", 1)[0] for _, m in fleet.write_backs(ns)]
    assert results == ["promoted"], results
    assert any("inconclusive (" in m for m in events(sandbox, ns)), "the Events name the inconclusive cause"


HOLD = {"onInconclusive": "hold", "inconclusiveThreshold": 30}


# --- metrics ----------------------------------------------------------------------------------


def test_prometheus_down_mid_analysis_holds_resumes_and_promotes(
    sandbox: SandboxClient, namespace: str, controller_process: Path, tmp_path: Path
) -> None:
    ns = namespace
    fleet = start_fleet(sandbox, ns, tmp_path, iterations=3)
    configure(sandbox, ns, HOLD)
    initialized(sandbox, ns, controller_process)
    with prometheus_stopped(sandbox) as restart:

        def recover() -> None:
            restart()
            total = f'sum(rate(istio_requests_total{{destination_workload_namespace="{ns}"}}[10s]))'
            sandbox.wait_prom_value(total, lambda v: v > 5, timeout=60)

        assert_held_then_promoted(sandbox, ns, fleet, controller_process, lambda: None, recover)


def test_prometheus_down_past_threshold_gives_up_without_quarantine(
    sandbox: SandboxClient, namespace: str, controller_process: Path, tmp_path: Path
) -> None:
    """The default policy (count, as Flagger): the threshold of 2 is reached by inconclusive checks."""
    ns = namespace
    fleet = start_fleet(sandbox, ns, tmp_path, iterations=3)
    initialized(sandbox, ns, controller_process)
    deploy_new_revision(sandbox, ns)
    wait_for(
        "an iteration", lambda: int(status_of(sandbox, ns).get("iterations") or 0) >= 1, controller_process
    )
    with prometheus_stopped(sandbox):
        assert_gave_up_without_verdict(sandbox, ns, fleet, controller_process)
    assert any("inconclusive (unreachable)" in m for m in events(sandbox, ns)), events(sandbox, ns)


def test_metric_out_of_range_is_still_quarantined(
    sandbox: SandboxClient, namespace: str, controller_process: Path, tmp_path: Path
) -> None:
    ns = namespace
    fleet = start_fleet(sandbox, ns, tmp_path, iterations=3)
    configure(sandbox, ns, HOLD)  # the policy changes nothing for a measured failure
    initialized(sandbox, ns, controller_process)
    sandbox.set_traffic(ns, "podinfo", rps=20, error_rate=0.4)
    wait_errors(sandbox, ns, lambda v: v > 5)
    deploy_new_revision(sandbox, ns)
    assert_quarantined(sandbox, ns, fleet, controller_process)


# --- webhooks ---------------------------------------------------------------------------------


def _rollout_hook(url: str) -> dict[str, Any]:
    return {"webhooks": [{"name": "load-test", "type": "rollout", "url": url, "timeout": "2s"}]}


def test_webhook_timing_out_mid_analysis_holds_resumes_and_promotes(
    sandbox: SandboxClient, namespace: str, controller_process: Path, tmp_path: Path
) -> None:
    ns = namespace
    with serve_recording() as server:
        hook = Hook(server)
        fleet = start_fleet(sandbox, ns, tmp_path, iterations=3)
        configure(sandbox, ns, {**HOLD, **_rollout_hook(server.url)})
        initialized(sandbox, ns, controller_process)
        assert_held_then_promoted(
            sandbox, ns, fleet, controller_process, lambda: hook.set("slow"), lambda: hook.set("ok")
        )
        assert any("webhook load-test inconclusive (timeout)" in m for m in events(sandbox, ns))


def test_webhook_timing_out_past_threshold_gives_up_without_quarantine(
    sandbox: SandboxClient, namespace: str, controller_process: Path, tmp_path: Path
) -> None:
    ns = namespace
    with serve_recording() as server:
        hook = Hook(server)
        fleet = start_fleet(sandbox, ns, tmp_path, iterations=3)
        configure(sandbox, ns, _rollout_hook(server.url))
        initialized(sandbox, ns, controller_process)
        hook.set("slow")
        deploy_new_revision(sandbox, ns)
        assert_gave_up_without_verdict(sandbox, ns, fleet, controller_process)


def test_webhook_answering_500_is_a_verdict_and_quarantines(
    sandbox: SandboxClient, namespace: str, controller_process: Path, tmp_path: Path
) -> None:
    ns = namespace
    with serve_recording() as server:
        hook = Hook(server)
        fleet = start_fleet(sandbox, ns, tmp_path, iterations=3)
        configure(sandbox, ns, {**HOLD, **_rollout_hook(server.url)})
        initialized(sandbox, ns, controller_process)
        hook.set("bad")
        deploy_new_revision(sandbox, ns)
        assert_quarantined(sandbox, ns, fleet, controller_process)
        assert any("load test failed: 42% errors" in m for m in events(sandbox, ns))
