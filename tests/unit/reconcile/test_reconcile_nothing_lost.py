"""Nothing is lost: a manual rollback request outlives its annotation, and Canary writes are
conditional on the resourceVersion the tick read (a conflicting writer is noticed)."""

from __future__ import annotations

from typing import Any, cast

import pytest
from memory_kube import MemoryKube

from controller import analysis as eng
from controller.api import Canary
from controller.errors import TemporaryError
from controller.hooks.gates import ROLLBACK_ANNOTATION, ROLLBACK_URL
from controller.kube import Kube
from controller.reconcile import spec_mapping
from controller.reconcile.runner import _patch_status
from controller.reconcile.status import StatusConflict
from controller.reconcile.world import CanaryWorld
from controller.routers.factory import router_for
from controller.workloads.target import TargetWorkload

Obj = dict[str, Any]
NS = "test"
KEY = ("Canary", NS, "podinfo")


def canary(annotations: dict[str, str] | None = None, engine: Obj | None = None) -> Obj:
    return {
        "apiVersion": "gitcanary.io/v1beta1",
        "kind": "Canary",
        "metadata": {"name": "podinfo", "namespace": NS, "annotations": annotations or {}},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "service": {"port": 9898},
            "analysis": {
                "interval": "10s",
                "threshold": 2,
                "iterations": 2,
                "webhooks": [{"name": "manual", "type": "rollback", "url": ROLLBACK_URL}],
            },
        },
        "status": {"phase": "Progressing", "engine": engine or {}},
    }


async def world_of(kube: MemoryKube, revision: str = "rev-b") -> CanaryWorld:
    api = cast(Kube, kube)
    raw = await kube.get("gitcanary.io/v1beta1", "Canary", NS, "podinfo")
    assert raw is not None
    model = Canary.from_k8s(raw)
    return CanaryWorld(
        kube=api,
        canary=model,
        raw=raw,
        hooks=spec_mapping.webhooks(model),
        workload=TargetWorkload(api, raw),
        router=router_for(api, raw, "kubernetes"),
        revision=revision,
        metrics_server="",
    )


ASK_ROLLBACK = eng.RunWebhooks(eng.HookType.ROLLBACK, eng.Phase.PROGRESSING)


async def test_a_rollback_request_is_saved_in_status_before_its_annotation_is_removed() -> None:
    kube = MemoryKube(canary({ROLLBACK_ANNOTATION: "requested"}))
    world = await world_of(kube)
    outcome = await world.handle(ASK_ROLLBACK)
    assert isinstance(outcome, eng.HookOutcome) and outcome.ok
    assert [(target, sub) for target, sub, _ in kube.patches] == [
        ("Canary/podinfo", "status"),  # saved first ...
        ("Canary/podinfo", ""),  # ... then the annotation is removed
    ]
    saved, removed = (patch for _, _, patch in kube.patches)
    assert saved["status"] == {"engine": {"rollbackRequest": "rev-b"}}
    assert removed["metadata"]["annotations"] == {ROLLBACK_ANNOTATION: None}
    live = kube.objects[KEY]
    assert live["status"]["engine"]["rollbackRequest"] == "rev-b"
    assert ROLLBACK_ANNOTATION not in live["metadata"]["annotations"]
    assert world.rollback_request_consumed


async def test_a_saved_request_rolls_back_the_replayed_tick_after_the_annotation_is_gone() -> None:
    kube = MemoryKube(canary(engine={"rollbackRequest": "rev-b"}))
    world = await world_of(kube)
    outcome = await world.handle(ASK_ROLLBACK)
    assert isinstance(outcome, eng.HookOutcome) and outcome.ok, outcome
    assert world.rollback_request_consumed
    assert kube.patches == [], "already saved and already removed: nothing to write"


async def test_a_request_saved_for_another_revision_does_not_roll_back() -> None:
    kube = MemoryKube(canary(engine={"rollbackRequest": "rev-b"}))
    world = await world_of(kube, revision="rev-c")
    outcome = await world.handle(ASK_ROLLBACK)
    assert isinstance(outcome, eng.HookOutcome) and not outcome.ok
    assert not world.rollback_request_consumed


async def test_a_status_write_carries_the_resource_version_it_read() -> None:
    kube = MemoryKube(canary())
    raw = await kube.get("gitcanary.io/v1beta1", "Canary", NS, "podinfo")
    assert raw is not None
    read = raw["metadata"]["resourceVersion"]
    await _patch_status(cast(Kube, kube), raw, {"phase": "Failed"})
    [(_, sub, patch)] = kube.patches
    assert sub == "status" and patch["metadata"]["resourceVersion"] == read
    assert raw["metadata"]["resourceVersion"] == kube.objects[KEY]["metadata"]["resourceVersion"] != read
    await _patch_status(cast(Kube, kube), raw, {"failedChecks": 0})  # its own writes never conflict


async def test_a_status_write_over_another_writers_change_is_a_conflict() -> None:
    kube = MemoryKube(canary())
    raw = await kube.get("gitcanary.io/v1beta1", "Canary", NS, "podinfo")
    assert raw is not None
    kube.bump(*KEY, {"status": {"conditions": [{"type": "Other", "status": "True"}]}})
    with pytest.raises(StatusConflict) as info:
        await _patch_status(cast(Kube, kube), raw, {"phase": "Failed", "conditions": []})
    assert isinstance(info.value, TemporaryError)
    assert kube.objects[KEY]["status"]["conditions"] == [{"type": "Other", "status": "True"}], (
        "not overwritten"
    )
