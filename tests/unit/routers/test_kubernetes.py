"""The kubernetes router: blue/green only, and on revertOnDeletion the Services go back to the
target. Before, ``finalize`` did nothing: the apex kept selecting the primary pods, which the
garbage collector then deleted, so no traffic reached the target."""

from __future__ import annotations

import json
from typing import Any

import pytest

from controller.kube import Kube
from controller.ownership import ORIGINAL_CONFIGURATION
from controller.routers.base import Routes, UnsupportedFeature
from controller.routers.factory import router_for
from controller.routers.kubernetes import KubernetesRouter
from controller.workloads import services
from controller.workloads.target import TargetWorkload
from tests.builders import canary, deployment, owned
from tests.unit.workloads.fake_kube import FakeKube

Obj = dict[str, Any]
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def podinfo_canary() -> Obj:
    cd = owned(canary("test", "podinfo"), "uid-123")
    cd["spec"]["service"] = {"port": 9898}
    cd["spec"]["provider"] = "kubernetes"
    return cd


def user_service(**annotations: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "podinfo", "namespace": "test", "annotations": {"a": "1", **annotations}},
        "spec": {
            "selector": {"app": "podinfo", "tier": "web"},
            "ports": [{"name": "web", "port": 80, "targetPort": 9898, "protocol": "TCP"}],
        },
    }


def _kube(fake: FakeKube) -> Kube:
    return fake  # type: ignore[return-value]


async def test_blue_green_only() -> None:
    router = KubernetesRouter(_kube(FakeKube()), podinfo_canary())
    await router.set_routes(100, 0, False)
    assert await router.get_routes() == Routes(100, 0, False)
    with pytest.raises(UnsupportedFeature, match="blue/green"):
        await router.set_routes(50, 50, False)
    assert isinstance(router_for(_kube(FakeKube()), podinfo_canary()), KubernetesRouter)


async def test_finalize_restores_a_taken_over_service_as_it_was() -> None:
    user = user_service()
    kube = FakeKube(deployment("test", "podinfo", "img:1"), user)
    cd = podinfo_canary()
    await TargetWorkload(_kube(kube), cd).initialize_primary()
    taken = kube.stored("Service", "test", "podinfo")
    assert taken["spec"]["selector"] == {"app": "podinfo-primary", "tier": "web"}

    await KubernetesRouter(_kube(kube), cd).finalize()
    restored = kube.stored("Service", "test", "podinfo")
    assert restored["spec"] == user["spec"]
    assert restored["metadata"]["annotations"] == {"a": "1"}
    assert "ownerReferences" not in restored["metadata"]


async def test_finalize_releases_the_apex_gitcanary_created_to_the_target() -> None:
    cd = podinfo_canary()
    target = deployment("test", "podinfo", "img:1")
    kube = FakeKube(target, *services.services(cd, target))
    await KubernetesRouter(_kube(kube), cd).finalize()
    apex = kube.stored("Service", "test", "podinfo")
    assert apex["spec"]["selector"] == {"app": "podinfo"}
    assert apex["metadata"]["ownerReferences"] == [], "it outlives the Canary, so traffic keeps flowing"
    for name in ("podinfo-primary", "podinfo-canary"):  # left to the garbage collector
        assert kube.stored("Service", "test", name)["metadata"]["ownerReferences"][0]["uid"] == "uid-123"
    assert kube.stored("Service", "test", "podinfo-primary")["spec"]["selector"] == {"app": "podinfo-primary"}


async def test_finalize_without_a_record_uses_the_last_applied_selector_as_flagger() -> None:
    svc = user_service(
        **{LAST_APPLIED: json.dumps({"spec": {"selector": {"app": "podinfo", "tier": "web"}}})}
    )
    svc["spec"]["selector"] = {"app": "podinfo-primary", "tier": "web"}  # taken over by Flagger
    kube = FakeKube(svc)
    await KubernetesRouter(_kube(kube), podinfo_canary()).finalize()
    assert kube.stored("Service", "test", "podinfo")["spec"]["selector"] == {"app": "podinfo", "tier": "web"}


async def test_finalize_leaves_a_foreign_service_that_never_selected_the_primary() -> None:
    kube = FakeKube(user_service())
    await KubernetesRouter(_kube(kube), podinfo_canary()).finalize()
    assert kube.writes == []


async def test_finalize_with_no_services_writes_nothing() -> None:
    kube = FakeKube()
    await KubernetesRouter(_kube(kube), podinfo_canary()).finalize()
    assert kube.writes == []


def test_the_record_names_the_gitcanary_annotation() -> None:
    assert ORIGINAL_CONFIGURATION == "gitcanary.io/original-configuration"
