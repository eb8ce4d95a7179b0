"""A status patch that cannot reach the API server is a temporary error of the tick.

Found by bench/chaos/cluster_faults.py: when kube-apiserver restarted (connection refused) or etcd
was away (read timeout) just as a tick saved its status, the ``KubeError`` of that patch left
``reconcile_canary`` (it is outside the tick's ``TemporaryError`` handling) and reached the
daemon's catch-all, which logged "reconcile failed" with a traceback at ERROR. Like any other
``KubeError`` of a tick, it should be a warning, a ``ReconcileFailed`` Event (best effort), and a
retry after the error's delay.
"""

from __future__ import annotations

from typing import Any

import pytest
from memory_kube import MemoryKube

from controller.analysis.model import CanaryState, Decision, Phase
from controller.kube import Kube, KubeError
from controller.reconcile import runner, steps
from controller.reconcile.runner import ReconcileSettings
from tests.builders import deployment
from tests.unit.reconcile.test_reconcile_event_once import NS, canary

Obj = dict[str, Any]


async def test_an_unreachable_apiserver_at_the_status_patch_is_retried_as_a_temporary_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kube = MemoryKube(canary(), deployment(NS, "podinfo", "ghcr.io/stefanprodan/podinfo:6.0.1"))

    async def decide(flow: Any, handle: Any) -> Decision:
        flow.close()
        return Decision(CanaryState(phase=Phase.SUCCEEDED), requeue_after=10)

    async def refused(kube_: Kube, raw: Obj, patch: Obj) -> None:
        raise KubeError("PATCH .../canaries/podinfo/status: ClientConnectorError: connect call failed")

    monkeypatch.setattr(steps, "drive_async", decide)
    monkeypatch.setattr(runner, "_patch_status", refused)
    raw = kube.objects[("Canary", NS, "podinfo")]
    outcome = await runner.reconcile_canary(kube, raw, ReconcileSettings(), now=1_800_000_000.0)  # type: ignore[arg-type]
    assert 0 < outcome.delay <= 10.0
    assert any(e.get("reason") == "ReconcileFailed" for e in kube.events)
