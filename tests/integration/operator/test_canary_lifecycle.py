"""A Canary runs to Succeeded or Failed on the real control plane, with real Prometheus metrics."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gitcanary_sandbox.client import SandboxClient
from tests.builders import canary, deployment, metric_template


def _apply(sandbox: SandboxClient, *objs: dict[str, Any]) -> None:
    sandbox.kubectl(
        "apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objs)})
    )


def _get(sandbox: SandboxClient, kind: str, ns: str, name: str) -> dict[str, Any]:
    obj: dict[str, Any] = json.loads(sandbox.kubectl("get", kind, "-n", ns, name, "-o", "json"))
    return obj


def _wait(what: str, probe: Callable[[], Any], timeout: float, log: Path) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.5)
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
    raise AssertionError(f"timed out waiting for {what}; last: {last}\ncontroller log:\n{tail}")


def _phase(sandbox: SandboxClient, ns: str) -> str:
    status = _get(sandbox, "canaries.gitcanary.io", ns, "podinfo").get("status") or {}
    return str(status.get("phase", ""))


def _events(sandbox: SandboxClient, ns: str) -> list[str]:
    items = json.loads(sandbox.kubectl("get", "events", "-n", ns, "-o", "json"))["items"]
    return [e["message"] for e in items if e["involvedObject"]["kind"] == "Canary"]


def _start(sandbox: SandboxClient, ns: str, log: Path, error_rate: float) -> None:
    sandbox.set_traffic(ns, "podinfo", rps=20, error_rate=0.0)
    _apply(
        sandbox,
        deployment(ns, "podinfo", "ghcr.io/stefanprodan/podinfo:6.0.0"),
        metric_template(ns, "error-rate", sandbox.state.prometheus_url),
        canary(ns, "podinfo", iterations=2, threshold=2, template="error-rate", max_error=1),
    )
    _wait("Initialized", lambda: _phase(sandbox, ns) == "Initialized", 60, log)
    target = _get(sandbox, "deployment", ns, "podinfo")
    assert target["spec"]["replicas"] == 0, "the target is scaled to zero after initialization"
    primary = _get(sandbox, "deployment", ns, "podinfo-primary")
    assert primary["metadata"]["annotations"]["kustomize.toolkit.fluxcd.io/reconcile"] == "disabled"
    for svc in ("podinfo", "podinfo-primary", "podinfo-canary"):
        _get(sandbox, "service", ns, svc)
    sandbox.set_traffic(ns, "podinfo", rps=20, error_rate=error_rate)
    # Let Prometheus see the new error rate over the 10s window before the new revision arrives.
    sandbox.wait_prom_value(
        f'sum(rate(istio_requests_total{{destination_workload_namespace="{ns}",response_code="500"}}[10s]))',
        (lambda v: v > 3) if error_rate else (lambda v: v < 0.01),
        timeout=30,
    )
    sandbox.kubectl(
        "set", "image", "-n", ns, "deployment/podinfo", "podinfod=ghcr.io/stefanprodan/podinfo:6.0.1"
    )


def test_healthy_revision_is_promoted(
    sandbox: SandboxClient, namespace: str, controller_process: Path
) -> None:
    _start(sandbox, namespace, controller_process, error_rate=0.0)
    _wait("Progressing", lambda: _phase(sandbox, namespace) == "Progressing", 20, controller_process)
    _wait("Succeeded", lambda: _phase(sandbox, namespace) == "Succeeded", 120, controller_process)
    primary = _get(sandbox, "deployment", namespace, "podinfo-primary")
    assert (
        primary["spec"]["template"]["spec"]["containers"][0]["image"] == "ghcr.io/stefanprodan/podinfo:6.0.1"
    )
    assert _get(sandbox, "deployment", namespace, "podinfo")["spec"]["replicas"] == 0
    status = _get(sandbox, "canaries.gitcanary.io", namespace, "podinfo")["status"]
    promoted = next(c for c in status["conditions"] if c["type"] == "Promoted")
    assert promoted["status"] == "True" and promoted["reason"] == "Succeeded"
    assert status["lastPromotedSpec"] == status["lastAppliedSpec"]
    # Neither spec.gitops nor Flux labels: behave like Flagger and queue nothing for Git.
    assert not (status.get("gitops") or {}).get("pending")
    events = _events(sandbox, namespace)
    assert f"New revision detected! Scaling up podinfo.{namespace}" in events
    assert f"Promotion completed! Scaling down podinfo.{namespace}" in events


def test_failing_revision_is_rolled_back(
    sandbox: SandboxClient, namespace: str, controller_process: Path
) -> None:
    _start(sandbox, namespace, controller_process, error_rate=0.3)
    _wait("Failed", lambda: _phase(sandbox, namespace) == "Failed", 120, controller_process)
    primary = _get(sandbox, "deployment", namespace, "podinfo-primary")
    assert (
        primary["spec"]["template"]["spec"]["containers"][0]["image"] == "ghcr.io/stefanprodan/podinfo:6.0.0"
    )
    _wait(  # scaled down by the tick after Failed is saved
        "canary scaled to zero",
        lambda: _get(sandbox, "deployment", namespace, "podinfo")["spec"]["replicas"] == 0,
        30,
        controller_process,
    )
    status = _get(sandbox, "canaries.gitcanary.io", namespace, "podinfo")["status"]
    assert status["engine"]["lastFailure"], "the failure that caused the rollback is recorded"
    assert "error-rate 30" in status["engine"]["lastFailure"]
    assert not (status.get("gitops") or {}).get("pending")
    events = _events(sandbox, namespace)
    assert f"Rolling back podinfo.{namespace} failed checks threshold reached 2" in events
    assert any("error-rate 30" in e and e.count("Halt") == 1 for e in events)


def test_invalid_canary_gets_a_condition_and_an_event(
    sandbox: SandboxClient, namespace: str, controller_process: Path
) -> None:
    # The CRD schema accepts descending stepWeights; Flagger's semantics do not.
    bad = canary(namespace, "podinfo", template=None)
    bad["spec"]["analysis"]["stepWeights"] = [50, 10]
    sandbox.kubectl("apply", "-f", "-", stdin=json.dumps(bad))

    def invalid() -> dict[str, Any] | None:
        conditions = (_get(sandbox, "canaries.gitcanary.io", namespace, "podinfo").get("status") or {}).get(
            "conditions"
        ) or []
        return next((c for c in conditions if c["type"] == "Valid" and c["status"] == "False"), None)

    condition = _wait("Valid=False", invalid, 30, controller_process)
    assert "stepWeights" in condition["message"], condition
    assert any(m.startswith("invalid Canary") and "stepWeights" in m for m in _events(sandbox, namespace))


def test_missing_target_is_reported_not_crashed(
    sandbox: SandboxClient, namespace: str, controller_process: Path
) -> None:
    sandbox.kubectl(
        "apply", "-f", "-", stdin=json.dumps(canary(namespace, "ghost", iterations=2, template=None))
    )

    def reported() -> dict[str, Any] | None:
        status = _get(sandbox, "canaries.gitcanary.io", namespace, "ghost").get("status") or {}
        return next(
            (c for c in status.get("conditions") or [] if c["type"] == "Valid" and c["status"] == "False"),
            None,
        )

    condition = _wait("Valid=False", reported, 30, controller_process)
    assert "deployment ghost" in condition["message"] and "not found" in condition["message"]
    # The controller recovers by itself once the target exists.
    _apply(sandbox, deployment(namespace, "ghost", "ghcr.io/stefanprodan/podinfo:6.0.0"))
    _wait(
        "Initialized",
        lambda: (
            _get(sandbox, "canaries.gitcanary.io", namespace, "ghost").get("status", {}).get("phase")
            == "Initialized"
        ),
        60,
        controller_process,
    )
