"""Knative router: traffic percentages between the pinned primary revision and the latest one,
as Flagger 1.44's pkg/router/knative.go routes a Knative Service."""

from __future__ import annotations

from typing import Any

import pytest

from controller.kube import Kube
from controller.routers import knative
from controller.routers.base import RouterError, Routes, UnsupportedFeature
from controller.routers.factory import router_for
from tests.unit.workloads.fake_kube import FakeKube

Obj = dict[str, Any]


def make_canary(analysis: Obj | None = None) -> Obj:
    # Flagger's test/knative/test-canary.sh Canary: no spec.service
    return {
        "apiVersion": "gitcanary.io/v1beta1",
        "kind": "Canary",
        "metadata": {"name": "podinfo", "namespace": "test", "uid": "uid-1"},
        "spec": {
            "provider": "knative",
            "targetRef": {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "podinfo"},
            "analysis": {
                "interval": "15s",
                "threshold": 15,
                "maxWeight": 50,
                "stepWeight": 10,
                **(analysis or {}),
            },
        },
    }


def ksvc(latest: str = "podinfo-00001", **annotations: str) -> Obj:
    return {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {
            "name": "podinfo",
            "namespace": "test",
            "generation": 1,
            "annotations": dict(annotations),
        },
        "spec": {"template": {"spec": {"containers": [{"image": "ghcr.io/stefanprodan/podinfo:6.0.0"}]}}},
        "status": {"observedGeneration": 1, "latestCreatedRevisionName": latest},
    }


def router(kube: FakeKube, canary: Obj | None = None) -> knative.KnativeRouter:
    made = router_for(kube, canary or make_canary())  # type: ignore[arg-type]
    assert isinstance(made, knative.KnativeRouter)
    return made


def stored(kube: FakeKube) -> Obj:
    return kube.stored("Service", "test", "podinfo")


async def test_reconcile_pins_the_latest_revision_and_sends_it_everything() -> None:
    kube = FakeKube(ksvc())
    await router(kube).reconcile()
    live = stored(kube)
    assert live["metadata"]["annotations"][knative.PRIMARY_REVISION] == "podinfo-00001"
    assert live["spec"]["traffic"] == [
        {"latestRevision": True, "percent": 0},
        {"latestRevision": False, "revisionName": "podinfo-00001", "percent": 100},
    ]
    assert "ownerReferences" not in live["metadata"], "the Knative Service is the user's"
    assert live["spec"]["template"], "nothing but the pin and the traffic is written"
    assert await router(kube).get_routes() == Routes(100, 0)


async def test_set_routes_splits_between_the_pin_and_the_latest_revision() -> None:
    kube = FakeKube(ksvc())
    await router(kube).reconcile()
    kube.stored("Service", "test", "podinfo")["status"]["latestCreatedRevisionName"] = "podinfo-00002"
    await router(kube).set_routes(70, 30, False)
    assert stored(kube)["spec"]["traffic"] == [
        {"latestRevision": True, "percent": 30},
        {"latestRevision": False, "revisionName": "podinfo-00001", "percent": 70},
    ]
    assert await router(kube).get_routes() == Routes(70, 30)
    await router(kube).reconcile()  # a reconcile keeps the live split
    assert await router(kube).get_routes() == Routes(70, 30)


async def test_the_split_is_read_from_status_once_knative_observed_the_generation() -> None:
    live = ksvc(**{knative.PRIMARY_REVISION: "podinfo-00001"})
    live["spec"]["traffic"] = [
        {"latestRevision": True, "percent": 40},
        {"revisionName": "podinfo-00001", "percent": 60},
    ]
    live["status"]["traffic"] = [
        {"latestRevision": True, "revisionName": "podinfo-00002", "percent": 20},
        {"latestRevision": False, "revisionName": "podinfo-00001", "percent": 80},
    ]
    assert knative.routes_of(live) == Routes(80, 20), "what Knative serves"
    live["metadata"]["generation"] = 2
    assert knative.routes_of(live) == Routes(60, 40), "not yet observed: what was asked"


def test_flaggers_pin_is_honoured() -> None:
    live = ksvc(**{knative.FLAGGER_PRIMARY_REVISION: "podinfo-00001"})
    live["spec"]["traffic"] = [
        {"latestRevision": True, "percent": 10},
        {"revisionName": "podinfo-00001", "percent": 90},
    ]
    live["status"].pop("observedGeneration")
    assert knative.routes_of(live) == Routes(90, 10)


@pytest.mark.parametrize(
    ("live", "message"),
    [
        (ksvc(), "no gitcanary.io/primary-revision"),
        (ksvc(**{knative.PRIMARY_REVISION: "podinfo-00001"}), "does not split"),
    ],
)
def test_routes_of_needs_the_pin_and_both_targets(live: Obj, message: str) -> None:
    with pytest.raises(RouterError, match=message):
        knative.routes_of(live)


async def test_set_routes_before_reconcile_and_a_missing_service_are_errors() -> None:
    with pytest.raises(RouterError, match="not found"):
        await router(FakeKube()).set_routes(90, 10, False)
    with pytest.raises(RouterError, match="no revision yet"):
        fresh = ksvc()
        fresh["status"] = {}
        await router(FakeKube(fresh)).reconcile()


async def test_promotion_pins_the_latest_revision() -> None:
    kube = FakeKube(ksvc())
    await router(kube).reconcile()
    kube.stored("Service", "test", "podinfo")["status"]["latestCreatedRevisionName"] = "podinfo-00002"
    assert await router(kube).pin_latest() == "podinfo-00002"
    assert await router(kube).get_routes() == Routes(100, 0)
    assert stored(kube)["metadata"]["annotations"][knative.PRIMARY_REVISION] == "podinfo-00002"


async def test_finalize_unpins_and_gives_the_latest_revision_all_traffic() -> None:
    kube = FakeKube(ksvc())
    await router(kube).reconcile()
    await router(kube).finalize()
    live = stored(kube)
    assert knative.PRIMARY_REVISION not in live["metadata"]["annotations"]
    assert live["spec"]["traffic"] == [{"latestRevision": True, "percent": 100}]


@pytest.mark.parametrize(
    ("analysis", "what"),
    [
        ({"iterations": 5, "match": [{"headers": {"x": {"exact": "1"}}}]}, "A/B"),
        ({"mirror": True}, "mirroring"),
        ({"sessionAffinity": {"cookieName": "c"}}, "session affinity"),
    ],
)
async def test_unsupported_features_are_refused_before_any_write(analysis: Obj, what: str) -> None:
    kube = FakeKube(ksvc())
    with pytest.raises(UnsupportedFeature, match=what):
        await router(kube, make_canary(analysis)).reconcile()
    assert kube.writes == []


def test_the_router_is_a_kube_router() -> None:
    kube: Kube = FakeKube()  # type: ignore[assignment]
    assert router_for(kube, make_canary()).__class__ is knative.KnativeRouter
