"""revertOnDeletion as Flagger's finalizer: scale the target up, wait until it is Ready, then
point the apex Service back at it. Before, the apex kept selecting the primary pods (which the
garbage collector deletes with the Canary) and nothing waited for the target."""

from __future__ import annotations

from typing import Any

import kopf
import pytest

from controller import operator
from controller.workloads import services
from tests.builders import canary, deployment, owned
from tests.unit.workloads.fake_kube import FakeKube

Obj = dict[str, Any]


def _setup(ready: bool) -> tuple[FakeKube, Obj]:
    cd = owned(canary("test", "podinfo"), "uid-123")
    cd["spec"].update(service={"port": 9898}, provider="kubernetes", revertOnDeletion=True)
    target = deployment("test", "podinfo", "img:1", replicas=0)
    target["metadata"]["generation"] = 2
    target["status"] = (
        {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3}
        if ready
        else {}
    )
    primary = deployment("test", "podinfo-primary", "img:1", replicas=3)
    return FakeKube(target, primary, *services.services(cd, target)), cd


async def test_the_target_gets_the_primarys_replicas_and_the_apex_once_ready() -> None:
    kube, cd = _setup(ready=True)
    await operator.revert_on_deletion(body=cd, memo=kopf.Memo(kube=kube))
    assert kube.stored("Deployment", "test", "podinfo")["spec"]["replicas"] == 3
    assert kube.stored("Service", "test", "podinfo")["spec"]["selector"] == {"app": "podinfo"}


async def test_a_target_that_is_not_ready_keeps_the_canary_and_the_apex(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(operator, "REVERT_READY_SECONDS", 0.0)
    kube, cd = _setup(ready=False)
    with pytest.raises(kopf.TemporaryError, match="not Ready"):
        await operator.revert_on_deletion(body=cd, memo=kopf.Memo(kube=kube))
    assert kube.stored("Deployment", "test", "podinfo")["spec"]["replicas"] == 3, "scaled up already"
    assert kube.stored("Service", "test", "podinfo")["spec"]["selector"] == {"app": "podinfo-primary"}


async def test_a_deleted_target_does_not_block_the_deletion_and_services_are_still_restored() -> None:
    kube, cd = _setup(ready=True)
    await kube.delete("apps/v1", "Deployment", "test", "podinfo")
    await operator.revert_on_deletion(body=cd, memo=kopf.Memo(kube=kube))  # no retry loop
    assert kube.stored("Service", "test", "podinfo")["spec"]["selector"] == {"app": "podinfo"}
