"""Deleting a Canary with ``revertOnDeletion`` through a real ``gitcanary run``: the target gets its
replicas back and is Ready, the apex Service selects it again, the generated objects are gone, and
a Service the user created before the Canary is restored as it was, never deleted.

Before: server-side apply gave the user's Service the Canary's ownerReference, so the garbage
collector deleted it with the Canary; and nothing pointed the apex back at the target."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gitcanary_sandbox.client import SandboxClient
from tests.builders import canary, deployment

ORIGINAL = "gitcanary.io/original-configuration"


def _apply(sandbox: SandboxClient, *objs: dict[str, Any]) -> None:
    sandbox.kubectl(
        "apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objs)})
    )


def _get(sandbox: SandboxClient, kind: str, ns: str, name: str) -> dict[str, Any] | None:
    out = sandbox.kubectl("get", kind, "-n", ns, name, "-o", "json", "--ignore-not-found")
    return json.loads(out) if out.strip() else None


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


def _phase(sandbox: SandboxClient, ns: str, name: str) -> str:
    obj = _get(sandbox, "canaries.gitcanary.io", ns, name) or {}
    return str((obj.get("status") or {}).get("phase", ""))


def _revert_canary(ns: str, name: str) -> dict[str, Any]:
    cd = canary(ns, name, iterations=2, template=None, provider="kubernetes")
    cd["spec"]["revertOnDeletion"] = True
    return cd


USER_PORTS = [{"name": "web", "port": 80, "protocol": "TCP", "targetPort": 9898}]


def test_revert_on_deletion_gives_replicas_and_traffic_back(
    sandbox: SandboxClient, namespace: str, controller_process: Path
) -> None:
    ns, log = namespace, controller_process
    user_service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "podinfo", "namespace": ns, "labels": {"team": "web"}},
        "spec": {"selector": {"app": "podinfo"}, "ports": USER_PORTS},
    }
    _apply(
        sandbox,
        deployment(ns, "podinfo", "ghcr.io/stefanprodan/podinfo:6.0.0"),
        deployment(ns, "frontend", "ghcr.io/stefanprodan/podinfo:6.0.0"),
        user_service,
    )
    _apply(sandbox, _revert_canary(ns, "podinfo"), _revert_canary(ns, "frontend"))
    for name in ("podinfo", "frontend"):
        _wait(f"{name} Initialized", lambda n=name: _phase(sandbox, ns, n) == "Initialized", 90, log)

    taken = _get(sandbox, "service", ns, "podinfo")
    assert taken is not None
    assert "ownerReferences" not in taken["metadata"], "the user's Service is never adopted"
    assert taken["spec"]["selector"] == {"app": "podinfo-primary"}
    assert ORIGINAL in taken["metadata"]["annotations"]
    generated_apex = _get(sandbox, "service", ns, "frontend")
    assert generated_apex is not None and generated_apex["metadata"]["ownerReferences"]
    for name in ("podinfo", "frontend"):
        target = _get(sandbox, "deployment", ns, name)
        assert target is not None and target["spec"]["replicas"] == 0

    sandbox.kubectl("delete", "canaries.gitcanary.io", "-n", ns, "podinfo", "frontend", "--wait=false")
    for name in ("podinfo", "frontend"):
        _wait(
            f"canary {name} gone",
            lambda n=name: _get(sandbox, "canaries.gitcanary.io", ns, n) is None,
            120,
            log,
        )

    for name in ("podinfo", "frontend"):
        target = _get(sandbox, "deployment", ns, name)
        assert target is not None
        assert target["spec"]["replicas"] == 2, "the target has the primary's replicas back"
        assert (target.get("status") or {}).get("readyReplicas") == 2, "and was Ready before the hand-back"

    restored = _get(sandbox, "service", ns, "podinfo")
    assert restored is not None, "a pre-existing Service is restored, not deleted"
    assert restored["spec"]["selector"] == {"app": "podinfo"}
    assert restored["spec"]["ports"] == USER_PORTS
    assert restored["metadata"]["labels"] == {"team": "web"}
    assert ORIGINAL not in (restored["metadata"].get("annotations") or {})
    assert "kustomize.toolkit.fluxcd.io/reconcile" not in (restored["metadata"].get("annotations") or {})

    released = _get(sandbox, "service", ns, "frontend")
    assert released is not None, "the apex gitcanary created outlives the Canary"
    assert released["spec"]["selector"] == {"app": "frontend"}
    assert not released["metadata"].get("ownerReferences")

    def generated_gone() -> bool:
        return all(
            _get(sandbox, kind, ns, f"{app}-{suffix}") is None
            for app in ("podinfo", "frontend")
            for kind, suffix in (("deployment", "primary"), ("service", "primary"), ("service", "canary"))
        )

    _wait("the generated objects garbage-collected", generated_gone, 90, log)
