"""The Traefik router against a real apiserver with the upstream Traefik CRDs (traefik.io)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from controller.kube import Kube
from controller.routers.base import RouterError, Routes, UnsupportedFeature
from controller.routers.factory import router_for
from gitcanary_sandbox.client import SandboxClient

Obj = dict[str, Any]
WALK = [0, 10, 20, 30, 40, 50, 0]


def owned_canary(sandbox: SandboxClient, namespace: str, name: str, analysis: Obj | None = None) -> Obj:
    sandbox.kubectl("create", "configmap", name, "-n", namespace)
    uid = sandbox.kubectl("get", "configmap", name, "-n", namespace, "-o", "jsonpath={.metadata.uid}").strip()
    assert uid
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "uid": uid},
        "spec": {
            "provider": "traefik",
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "service": {"port": 80},
            "analysis": {"interval": "15s", "threshold": 5, "stepWeight": 10, **(analysis or {})},
        },
    }


def live_services(sandbox: SandboxClient, namespace: str, name: str) -> dict[str, int]:
    obj = json.loads(
        sandbox.kubectl("get", "traefikservices.traefik.io", name, "-n", namespace, "-o", "json")
    )
    assert obj["metadata"]["annotations"]["kustomize.toolkit.fluxcd.io/reconcile"] == "disabled"
    return {s["name"]: s["weight"] for s in obj["spec"]["weighted"]["services"]}


async def test_reconcile_creates_the_service_and_walks_the_weights(
    sandbox: SandboxClient, namespace: str
) -> None:
    canary = owned_canary(sandbox, namespace, "podinfo")
    kube = Kube.from_kubeconfig(str(sandbox.kubeconfig))
    try:
        router = router_for(kube, canary)
        await router.reconcile()
        assert live_services(sandbox, namespace, "podinfo") == {"podinfo-primary": 100}
        assert await router.get_routes() == Routes(100, 0, False)
        for weight in WALK:
            await router.set_routes(100 - weight, weight, False)
            expected = (
                {"podinfo-primary": 100 - weight, "podinfo-canary": weight}
                if weight
                else {"podinfo-primary": 100}
            )
            assert live_services(sandbox, namespace, "podinfo") == expected
            assert await router.get_routes() == Routes(100 - weight, weight, False)
            if weight == 30:
                await router.reconcile()  # reconcile never resets a split in progress
                assert await router.get_routes() == Routes(70, 30, False)
        await router.set_routes(0, 100, False)  # blue/green promotion: everything on the canary
        assert live_services(sandbox, namespace, "podinfo") == {"podinfo-primary": 0, "podinfo-canary": 100}
        assert await router.get_routes() == Routes(0, 100, False)
        await router.finalize()
        assert live_services(sandbox, namespace, "podinfo") == {"podinfo": 100}
    finally:
        await kube.close()


async def test_unsupported_requests_write_nothing(sandbox: SandboxClient, namespace: str) -> None:
    analysis = {"iterations": 5, "match": [{"headers": {"x-canary": {"exact": "1"}}}]}
    canary = owned_canary(sandbox, namespace, "refused", analysis)
    kube = Kube.from_kubeconfig(str(sandbox.kubeconfig))
    try:
        router = router_for(kube, canary)
        with pytest.raises(UnsupportedFeature, match="A/B"):
            await router.reconcile()
        assert await kube.get("traefik.io/v1alpha1", "TraefikService", namespace, "refused") is None
        with pytest.raises(RouterError, match="not found"):
            await router.get_routes()
    finally:
        await kube.close()
