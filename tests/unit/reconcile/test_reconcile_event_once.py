"""A decision's Event is recorded once, even when the tick that took it is decided again.

Found by bench/chaos/git_faults.py: a promotion tick whose status patch met another writer's
change (409) was decided again from a fresh read, and "Promotion completed!" was recorded by both
ticks, an Event series that shows the decision taken twice. Events, like alerts, belong to the
tick whose status is saved.
"""

from __future__ import annotations

from typing import Any, cast

import pytest
from memory_kube import MemoryKube

from controller import analysis as eng
from controller.analysis.model import CanaryState, Decision, Phase
from controller.kube import Kube
from controller.reconcile import runner, steps
from controller.reconcile.status import StatusConflict
from tests.builders import deployment

Obj = dict[str, Any]
NS = "test"
PROMOTED = f"Promotion completed! Scaling down podinfo.{NS}"


def canary() -> Obj:
    return {
        "apiVersion": "gitcanary.io/v1beta1",
        "kind": "Canary",
        "metadata": {"name": "podinfo", "namespace": NS},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "service": {"port": 9898},
            "analysis": {"interval": "10s", "threshold": 2, "iterations": 2},
        },
        "status": {"phase": "Finalising"},
    }


async def test_a_tick_decided_again_after_a_conflict_records_its_decision_event_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kube = MemoryKube(canary(), deployment(NS, "podinfo", "ghcr.io/stefanprodan/podinfo:6.0.1"))

    async def decide(flow: Any, handle: Any) -> Decision:
        flow.close()
        await handle(eng.Notify(PROMOTED))
        return Decision(CanaryState(phase=Phase.SUCCEEDED), requeue_after=10)

    real_patch = runner._patch_status
    conflicts = [StatusConflict("Canary test/podinfo changed during the tick")]

    async def patch_once_in_conflict(kube_: Kube, raw: Obj, patch: Obj) -> None:
        if conflicts:
            raise conflicts.pop()
        await real_patch(kube_, raw, patch)

    monkeypatch.setattr(steps, "drive_async", decide)
    monkeypatch.setattr(runner, "_patch_status", patch_once_in_conflict)
    raw = await kube.get("gitcanary.io/v1beta1", "Canary", NS, "podinfo")
    assert raw is not None
    await runner.reconcile_canary(cast(Kube, kube), raw, runner.ReconcileSettings(), now=1000.0)

    assert not conflicts, "the first patch met a conflict"
    assert [e["message"] for e in kube.events].count(PROMOTED) == 1, [e["message"] for e in kube.events]
    saved = await kube.get("gitcanary.io/v1beta1", "Canary", NS, "podinfo")
    assert saved is not None and saved["status"]["phase"] == "Succeeded"
