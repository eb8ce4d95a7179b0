"""The Knative router against a real apiserver with the upstream Knative Serving CRDs
(knative.dev/serving v0.49.1, the release Flagger v1.44.0 builds against). There is no Knative
controller, so the test plays it: it sets ``status.latestCreatedRevisionName``, and the split is
read from ``spec.traffic`` until a status observes the generation."""

from __future__ import annotations

import json
from typing import Any

import pytest

from controller.kube import Kube
from controller.routers import knative
from controller.routers.base import RouterError, Routes, UnsupportedFeature
from controller.routers.factory import router_for
from gitcanary_sandbox.client import SandboxClient

Obj = dict[str, Any]
KSVC = "services.serving.knative.dev"


def knative_canary(namespace: str, analysis: Obj | None = None) -> Obj:
    return {
        "apiVersion": "gitcanary.io/v1beta1",
        "kind": "Canary",
        "metadata": {"name": "podinfo", "namespace": namespace, "uid": "not-an-owner"},
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


def create_ksvc(sandbox: SandboxClient, namespace: str) -> None:
    ksvc = {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": "podinfo", "namespace": namespace},
        "spec": {"template": {"spec": {"containers": [{"image": "ghcr.io/stefanprodan/podinfo:6.0.0"}]}}},
    }
    sandbox.kubectl("apply", "-f", "-", stdin=json.dumps(ksvc))
    set_latest(sandbox, namespace, "podinfo-00001")


def set_latest(sandbox: SandboxClient, namespace: str, revision: str) -> None:
    patch = json.dumps({"status": {"latestCreatedRevisionName": revision}})
    sandbox.kubectl(
        "patch", KSVC, "podinfo", "-n", namespace, "--subresource=status", "--type=merge", "-p", patch
    )


def live(sandbox: SandboxClient, namespace: str) -> Obj:
    obj: Obj = json.loads(sandbox.kubectl("get", KSVC, "podinfo", "-n", namespace, "-o", "json"))
    return obj


async def test_reconcile_pins_walks_promotes_and_hands_back(sandbox: SandboxClient, namespace: str) -> None:
    create_ksvc(sandbox, namespace)
    kube = Kube.from_kubeconfig(str(sandbox.kubeconfig))
    try:
        router = router_for(kube, knative_canary(namespace))
        await router.reconcile()
        obj = live(sandbox, namespace)
        assert obj["metadata"]["annotations"][knative.PRIMARY_REVISION] == "podinfo-00001"
        assert "ownerReferences" not in obj["metadata"]
        assert await router.get_routes() == Routes(100, 0)

        set_latest(sandbox, namespace, "podinfo-00002")  # a new revision: the canary
        for weight in (10, 20, 30, 40, 50):
            await router.set_routes(100 - weight, weight, False)
            assert await router.get_routes() == Routes(100 - weight, weight)
            traffic = live(sandbox, namespace)["spec"]["traffic"]
            assert {(t.get("revisionName"), t.get("latestRevision"), t["percent"]) for t in traffic} == {
                (None, True, weight),
                ("podinfo-00001", False, 100 - weight),
            }
        await router.reconcile()  # keeps the live split
        assert await router.get_routes() == Routes(50, 50)

        assert isinstance(router, knative.KnativeRouter)
        assert await router.pin_latest() == "podinfo-00002"
        assert await router.get_routes() == Routes(100, 0)

        await router.finalize()
        obj = live(sandbox, namespace)
        assert knative.PRIMARY_REVISION not in (obj["metadata"].get("annotations") or {})
        assert obj["spec"]["traffic"] == [{"latestRevision": True, "percent": 100}]
        assert obj["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":6.0.0")
    finally:
        await kube.close()


async def test_a_missing_service_and_unsupported_features(sandbox: SandboxClient, namespace: str) -> None:
    kube = Kube.from_kubeconfig(str(sandbox.kubeconfig))
    try:
        with pytest.raises(RouterError, match="not found"):
            await router_for(kube, knative_canary(namespace)).reconcile()
        with pytest.raises(UnsupportedFeature, match="mirroring"):
            await router_for(kube, knative_canary(namespace, {"mirror": True})).reconcile()
    finally:
        await kube.close()
